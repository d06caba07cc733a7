r"""Priors for amortized inference: independent uniform or log-uniform parameters in a box.

The single-parameter prior is :class:`fieldfit.priors.Bound`, the same type that
``Param.prior`` holds for penalised likelihoods and MCMC; :class:`Prior` is a box of them (plus
fixed values), built by hand or from a parameter space's priors (:meth:`Prior.from_space`).

Every network in :mod:`fieldfit.neural` works on the *unit scale* of the prior box,
:math:`u = (\theta - a)/(b - a)` for ``uniform(a, b)`` and
:math:`u = (\log\theta - \log a)/(\log b - \log a)` for ``loguniform(a, b)``,

so that every parameter lies in (0, 1) whatever its units, estimates stay inside the prior's
support (outputs through a sigmoid), and ``logit(u)`` is an unbounded version for flows.
Fixed parameters are carried along for the simulator but never estimated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

# one prior type for every estimator: the neural priors are boxes of fieldfit.priors.Bound
from ..priors import KINDS, Bound  # noqa: E402,F401  (re-exported)


@dataclass(frozen=True)
class Prior:
    """Independent priors on the estimated parameters, plus fixed values.

    Parameters
    ----------
    bounds : mapping of str to fieldfit.priors.Bound
        The estimated parameters (at least one) and their uniform or log-uniform priors, in
        order.
    fixed : mapping of str to float, default {}
        Parameters held at fixed values (passed to the simulator, never estimated).
    parameterisation : str or None, default None
        The prior's names are the coordinates of this registered parameterisation
        (:mod:`fieldfit.neural.parameterisations`), mapped to the model's parameters before
        simulating; None: they are the model's parameters.

    Raises
    ------
    ValueError
        If no parameter is estimated, a parameter is both estimated and fixed, or the
        parameterisation is unknown or one of its coordinates is not given.

    Examples
    --------
    >>> prior = Prior({"range": Bound(0.02, 0.5, "loguniform"), "variance": Bound(0.1, 5)},
    ...               fixed={"smoothness": 1.0})
    >>> theta = prior.sample(100, seed=0)          # (100, 2) natural values
    >>> u = prior.to_unit(theta)                    # (100, 2) in (0, 1)
    >>> u.shape
    (100, 2)
    """

    bounds: Mapping[str, Bound]
    fixed: Mapping[str, float] = field(default_factory=dict)
    parameterisation: str | None = None

    def __post_init__(self):
        if not self.bounds:
            raise ValueError("a prior needs at least one estimated parameter")
        both = set(self.bounds) & set(self.fixed)
        if both:
            raise ValueError(f"parameters both estimated and fixed: {sorted(both)}")
        if self.parameterisation is not None:
            from .parameterisations import parameterisation

            missing = set(parameterisation(self.parameterisation).coordinates) - (
                set(self.bounds) | set(self.fixed))
            if missing:
                raise ValueError(f"the {self.parameterisation!r} parameterisation needs "
                                 f"{sorted(missing)} in the prior (estimated or fixed)")

    @property
    def model_names(self) -> set[str]:
        """The model parameters this prior gives (estimated and fixed), after its
        parameterisation."""
        names = set(self.bounds) | set(self.fixed)
        if self.parameterisation is None:
            return names
        from .parameterisations import parameterisation

        return parameterisation(self.parameterisation).model_names(names)

    @classmethod
    def from_space(cls, space, fixed: Mapping[str, float] | None = None) -> Prior:
        """The box of a :class:`~fieldfit.params.ParamSpace`'s free parameters, from their priors.

        Parameters
        ----------
        space : fieldfit.params.ParamSpace
            The parameters; every free one must have a ``Param.prior`` that is a
            :class:`~fieldfit.priors.Bound`.
        fixed : mapping of str to float or None, optional
            Fixed values to add.

        Returns
        -------
        Prior
            The box of the free parameters, in the space's order.

        Raises
        ------
        ValueError
            If a free parameter has no bounded prior.
        """
        bounds, missing = {}, []
        for p in space:
            if p.fixed:
                continue
            if isinstance(p.prior, Bound):
                bounds[p.name] = p.prior
            else:
                missing.append(p.name)
        if missing:
            raise ValueError(f"amortized inference needs a bounded prior (fieldfit.priors."
                             f"Bound) on every estimated parameter; {missing} have none")
        return cls(bounds, dict(fixed or {}))

    @property
    def names(self) -> list[str]:
        """The estimated parameters' names, in order."""
        return list(self.bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def sample(self, n: int, seed=None) -> np.ndarray:
        """Draw parameters from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int, numpy.random.Generator or None, optional
            Seed or generator (``numpy.random.default_rng(seed)``).

        Returns
        -------
        numpy.ndarray, shape (n, p)
            Natural values.
        """
        rng = np.random.default_rng(seed)
        return self.from_unit(rng.uniform(size=(n, len(self))))

    def to_unit(self, theta) -> np.ndarray:
        """Map natural values to the unit scale.

        Parameters
        ----------
        theta : array_like, shape (B, p) or (p,)
            Natural values.

        Returns
        -------
        numpy.ndarray, shape (B, p)
            Unit-scale values (in [0, 1] inside the box).

        Raises
        ------
        ValueError
            If the number of columns is not the number of estimated parameters.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        if theta.shape[-1] != len(self):
            raise ValueError(f"expected {len(self)} parameters {self.names}, got {theta.shape[-1]}")
        return np.stack([b.to_unit(theta[:, j]) for j, b in enumerate(self.bounds.values())], 1)

    def from_unit(self, u) -> np.ndarray:
        """Map unit-scale values back to natural values.

        Parameters
        ----------
        u : array_like, shape (..., p)
            Unit-scale values.

        Returns
        -------
        numpy.ndarray, shape (..., p)
            Natural values.
        """
        u = np.asarray(u, dtype=np.float64)
        return np.stack([b.from_unit(u[..., j]) for j, b in enumerate(self.bounds.values())], -1)

    def params(self, theta_row) -> dict[str, float]:
        """One parameter vector as a dict, with the fixed values added.

        Parameters
        ----------
        theta_row : sequence of float, shape (p,)
            Natural values of the estimated parameters.

        Returns
        -------
        dict of str to float
            Estimated and fixed parameters by name.

        Raises
        ------
        ValueError
            If ``theta_row`` does not have one value per estimated parameter.
        """
        out = {k: float(v) for k, v in zip(self.names, theta_row, strict=True)}
        out.update({k: float(v) for k, v in self.fixed.items()})
        return out

    def to_dict(self) -> dict:
        """The prior as plain data.

        Returns
        -------
        dict
            ``{"bounds": {name: [lower, upper, kind]}, "fixed": {name: value}}`` (and
            ``"parameterisation"`` where set), read back by :meth:`from_dict`.
        """
        out = {"bounds": {k: [b.lower, b.upper, b.kind] for k, b in self.bounds.items()},
               "fixed": dict(self.fixed)}
        if self.parameterisation is not None:
            out["parameterisation"] = self.parameterisation
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> Prior:
        """Rebuild a prior from :meth:`to_dict`'s description.

        Parameters
        ----------
        d : mapping
            The description (``fixed`` optional).

        Returns
        -------
        Prior
            The prior described.

        Raises
        ------
        ValueError
            If a bound or the prior is invalid.
        """
        return cls({k: Bound(float(v[0]), float(v[1]), str(v[2])) for k, v in d["bounds"].items()},
                   {k: float(v) for k, v in d.get("fixed", {}).items()},
                   d.get("parameterisation"))


def logit(u: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    r"""The logit of unit-scale values, clamped away from 0 and 1.

    Parameters
    ----------
    u : torch.Tensor
        Values in [0, 1].
    eps : float, default 1e-6
        ``u`` is clamped to ``[eps, 1 - eps]`` first.

    Returns
    -------
    torch.Tensor
        :math:`\log u - \log(1 - u)`, same shape as ``u``.
    """
    u = u.clamp(eps, 1 - eps)
    return torch.log(u) - torch.log1p(-u)
