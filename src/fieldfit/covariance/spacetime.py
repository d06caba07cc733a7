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
from .base import Covariance, Isotropic, distance


def _split(x: torch.Tensor):
    if x.shape[-1] < 2:
        raise ValueError("space-time points need at least one spatial column and the time column")
    return x[..., :-1], x[..., -1:]


class Separable(Covariance):
    """C(h, u) = σ² ρ_S(‖h‖/ℓ) ρ_T(|u|/ℓ_T): the product of two isotropic correlations.

    The spatial part keeps its parameter names (``variance``, ``range``, ``smoothness``); the
    temporal part's are prefixed with ``time_`` (``time_range``, ``time_smoothness``).
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
        return [*self.space.param_specs(), *self._time_specs()]

    def _time_params(self, p):
        return {k[5:]: v for k, v in p.items() if k.startswith("time_")}

    def __call__(self, x1, x2, p):
        s1, t1 = _split(x1)
        s2, t2 = _split(x2)
        cs = self.space(s1, s2, p)
        pt = self._time_params(p)
        return cs * self.time.correlation(distance(t1, t2) / pt["range"], pt)

    def initial_values(self, variance, diameter, time_span=1.0):
        return {"variance": variance, "range": diameter / 10.0, "time_range": time_span / 10.0}

    @property
    def name(self):
        return f"separable-{self.space.name}-{self.time.name}"

    def __repr__(self):
        return f"Separable({self.space!r}, {self.time!r})"


class Gneiting(Covariance):
    """Gneiting's nonseparable space-time covariance (Gneiting 2002, JASA, eq. 14).

        C(h, u) = σ² ψ(u)^{−βd/2} exp(−(‖h‖/ℓ)^{2γ} ψ(u)^{−βγ}),  ψ(u) = 1 + (|u|/ℓ_T)^{2α}

    d is the number of spatial columns the covariance sees: 3 for longitude/latitude data
    (``crs="lonlat"``: 3-D Cartesian points, h the chordal distance), where the function is
    positive definite on R³ and so on the sphere (:mod:`fieldfit.geo`).
    """

    time_dims = 1

    def param_specs(self):
        return [
            Param("variance", positive, 1.0, doc="σ²"),
            Param("range", positive, 1.0, doc="spatial range ℓ"),
            Param("time_range", positive, 1.0, doc="temporal range ℓ_T"),
            Param("smoothness", interval(0.0, 1.0), 0.5, doc="spatial smoothness γ"),
            Param("time_smoothness", interval(0.0, 1.0), 0.5, doc="temporal smoothness α"),
            Param("separability", interval(0.0, 1.0), 0.5, doc="space-time interaction β"),
        ]

    def __call__(self, x1, x2, p):
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
        return {"variance": variance, "range": diameter / 10.0, "time_range": time_span / 10.0}
