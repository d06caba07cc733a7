"""Space-time covariances. Points are ``(n, d + 1)``: spatial coordinates, then time.

Separable:   C(h, u) = σ² ρ_S(‖h‖/ℓ) ρ_T(|u|/ℓ_T)
Gneiting (2002, eq. 14), with ψ(u) = 1 + (|u|/ℓ_T)^{2α}:
             C(h, u) = σ² ψ(u)^{−βd/2} exp(−(‖h‖/ℓ)^{2γ} ψ(u)^{−βγ})
             α = ``time_smoothness`` ∈ (0, 1], γ = ``smoothness`` ∈ (0, 1],
             β = ``separability`` ∈ [0, 1] (β = 0: separable)
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..params import Param, interval, positive
from .base import Covariance, Isotropic, distance, register_covariance


def _split(x: torch.Tensor):
    if x.shape[-1] < 2:
        raise ValueError("space-time points need at least one spatial column and the time column")
    return x[..., :-1], x[..., -1:]


@register_covariance("separable")
class Separable(Covariance):
    r"""The product of a spatial and a temporal isotropic correlation.

    .. math::

        C(h, u) = \sigma^2 \rho_S(\lVert h \rVert / \ell) \, \rho_T(|u| / \ell_T)

    The spatial part keeps its parameter names (``variance``, ``range``, ``smoothness``);
    the temporal part's are prefixed with ``time_`` (``time_range``, ``time_smoothness``).
    Points are ``(n, d + 1)``, the time last.

    Parameters
    ----------
    space : Isotropic
        The spatial covariance (its variance is the field's).
    time : Isotropic
        The temporal covariance (its correlation only).

    References
    ----------
    N. Cressie and C. K. Wikle, Statistics for Spatio-Temporal Data, Wiley, 2011, §6.1.
    """

    time_dims = 1

    def __init__(self, space: Isotropic, time: Isotropic):
        self.space, self.time = space, time

    def _time_specs(self):
        out = []
        for p in self.time.param_specs():
            if p.name == "variance":
                continue
            out.append(replace(p, name="time_" + p.name))
        return out

    def param_specs(self):
        """The spatial parameters, then the temporal ones prefixed ``time_``.

        Returns
        -------
        list of Param
            The parameters.
        """
        return [*self.space.param_specs(), *self._time_specs()]

    def _time_params(self, p):
        return {k[5:]: v for k, v in p.items() if k.startswith("time_")}

    def __call__(self, x1, x2, p):
        """The covariance matrix of two space-time point sets.

        Parameters
        ----------
        x1 : torch.Tensor
            Points ``(..., n1, d + 1)``, the time last.
        x2 : torch.Tensor
            Points ``(..., n2, d + 1)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(..., n1, n2)``.

        Raises
        ------
        ValueError
            For points without a spatial column.
        """
        s1, t1 = _split(x1)
        s2, t2 = _split(x2)
        cs = self.space(s1, s2, p)
        pt = self._time_params(p)
        return cs * self.time.correlation(distance(t1, t2) / pt["range"], pt)

    def initial_values(self, variance, diameter, time_span=1.0):
        """A starting point: ranges a tenth of the diameter and of the time span.

        Parameters
        ----------
        variance : float
            The share of the data's variance given to the field.
        diameter : float
            The domain's diameter.
        time_span : float
            The data's time span.

        Returns
        -------
        dict
            ``variance``, ``range`` and ``time_range``.
        """
        return {"variance": variance, "range": diameter / 10.0, "time_range": time_span / 10.0}

    def spec_options(self) -> dict:
        """``{}``: the registered separable covariance is Matérn(space) × exponential(time).

        Returns
        -------
        dict
            ``{}``.

        Raises
        ------
        ValueError
            For any other pair of covariances (no description carries it).
        """
        from .matern import Exponential, Matern

        if not (type(self.space) is Matern and self.space.smoothness is None
                and type(self.time) is Exponential):
            raise ValueError(f"{self!r} has no registered description: the registered "
                             "separable covariance is Separable(Matern(), Exponential())")
        return {}

    @classmethod
    def from_options(cls) -> Separable:
        """The registered separable covariance.

        Returns
        -------
        Separable
            ``Separable(Matern(), Exponential())``.
        """
        from .matern import Exponential, Matern

        return cls(Matern(), Exponential())

    @property
    def name(self):
        """``separable-<space name>-<time name>``."""
        return f"separable-{self.space.name}-{self.time.name}"

    def __repr__(self):
        return f"Separable({self.space!r}, {self.time!r})"


@register_covariance("gneiting")
class Gneiting(Covariance):
    r"""Gneiting's nonseparable space-time covariance (Gneiting 2002, eq. 14).

    .. math::

        C(h, u) = \sigma^2 \psi(u)^{-\beta d/2}
        \exp\left(-(\lVert h \rVert/\ell)^{2\gamma} \psi(u)^{-\beta\gamma}\right),
        \qquad \psi(u) = 1 + (|u|/\ell_T)^{2\alpha}

    with ``variance`` :math:`\sigma^2`, ``range`` :math:`\ell`, ``time_range``
    :math:`\ell_T`, ``smoothness`` :math:`\gamma \in (0, 1]`, ``time_smoothness``
    :math:`\alpha \in (0, 1]` and ``separability`` :math:`\beta \in [0, 1]` (0: separable).
    :math:`d` is the number of spatial columns the covariance sees: 3 for longitude/latitude
    data (``crs="lonlat"``: 3-D Cartesian points, :math:`h` the chordal distance), where the
    function is positive definite on :math:`R^3` and so on the sphere (:mod:`fieldfit.geo`).

    References
    ----------
    T. Gneiting, Nonseparable, stationary covariance functions for space-time data, JASA
    97 (2002), 590-600.
    """

    time_dims = 1

    def param_specs(self):
        """The six parameters of the module formula.

        Returns
        -------
        list of Param
            ``variance``, ``range``, ``time_range``, ``smoothness``, ``time_smoothness``,
            ``separability``.
        """
        return [
            Param("variance", positive, 1.0, doc="σ²"),
            Param("range", positive, 1.0, doc="spatial range ℓ"),
            Param("time_range", positive, 1.0, doc="temporal range ℓ_T"),
            Param("smoothness", interval(0.0, 1.0), 0.5, doc="spatial smoothness γ"),
            Param("time_smoothness", interval(0.0, 1.0), 0.5, doc="temporal smoothness α"),
            Param("separability", interval(0.0, 1.0), 0.5, doc="space-time interaction β"),
        ]

    def __call__(self, x1, x2, p):
        """The covariance matrix of two space-time point sets.

        Parameters
        ----------
        x1 : torch.Tensor
            Points ``(..., n1, d + 1)``, the time last.
        x2 : torch.Tensor
            Points ``(..., n2, d + 1)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(..., n1, n2)``.

        Raises
        ------
        ValueError
            For points without a spatial column.
        """
        s1, t1 = _split(x1)
        s2, t2 = _split(x2)
        d = s1.shape[-1]
        u = distance(t1, t2) / p["time_range"]
        upos = u > 0
        u_safe = torch.where(upos, u, torch.ones_like(u))
        psi = 1.0 + torch.where(upos, u_safe ** (2 * p["time_smoothness"]), torch.zeros_like(u))
        h = distance(s1, s2) / p["range"]
        hpos = h > 0
        h_safe = torch.where(hpos, h, torch.ones_like(h))
        h2g = torch.where(hpos, h_safe ** (2 * p["smoothness"]), torch.zeros_like(h))
        beta = p["separability"]
        decay = torch.exp(-h2g * psi ** (-beta * p["smoothness"]))
        return p["variance"] * psi ** (-beta * d / 2) * decay

    def initial_values(self, variance, diameter, time_span=1.0):
        """A starting point: ranges a tenth of the diameter and of the time span.

        Parameters
        ----------
        variance : float
            The share of the data's variance given to the field.
        diameter : float
            The domain's diameter.
        time_span : float
            The data's time span.

        Returns
        -------
        dict
            ``variance``, ``range`` and ``time_range``.
        """
        return {"variance": variance, "range": diameter / 10.0, "time_range": time_span / 10.0}
