"""Geometric anisotropy in two dimensions.

    C(h) = C_iso(‖R(−θ) h‖_A),   ‖(a, b)‖_A = √(a² + (b/λ)²)

θ = ``angle`` (radians, counter-clockwise from the x axis) is the direction of the range
``range``; λ = ``ratio`` is the range across that direction divided by the range along it
(λ < 1: correlation decays faster across; λ = 1: isotropic). Any isotropic covariance can be
made anisotropic (Chilès & Delfiner 2012, §2.5.2).
"""

from __future__ import annotations

import math

import torch

from ..params import Param, interval, positive
from .base import Isotropic, safe_sqrt


class Anisotropic(Isotropic):
    """Geometric anisotropy of an isotropic covariance in 2-D (adds ``angle`` and ``ratio``)."""

    euclidean = False

    def __init__(self, base: Isotropic):
        if not isinstance(base, Isotropic) or isinstance(base, Anisotropic):
            raise ValueError("Anisotropic needs an isotropic covariance such as Matern()")
        self.base = base

    def param_specs(self):
        return [
            *self.base.param_specs(),
            Param("angle", interval(-math.pi / 2, math.pi / 2), 0.0, doc="direction θ (rad)"),
            Param("ratio", positive, 1.0, doc="range across / range along θ"),
        ]

    def correlation(self, r, p):
        return self.base.correlation(r, p)

    def scaled_distance(self, x1, x2, p):
        if x1.shape[-1] != 2:
            raise ValueError(f"Anisotropic works on 2-D coordinates, got {x1.shape[-1]}-D points")
        return self.paired_scaled_distance(x1[..., :, None, :] - x2[..., None, :, :], p)

    def paired_scaled_distance(self, d, p):
        if d.shape[-1] != 2:
            raise ValueError(f"Anisotropic works on 2-D coordinates, got {d.shape[-1]}-D points")
        c, s = torch.cos(p["angle"]), torch.sin(p["angle"])
        along = c * d[..., 0] + s * d[..., 1]
        across = -s * d[..., 0] + c * d[..., 1]
        return safe_sqrt(along**2 + (across / p["ratio"]) ** 2) / p["range"]

    @property
    def name(self):
        return f"anisotropic-{self.base.name}"

    def __repr__(self):
        return f"Anisotropic({self.base!r})"
