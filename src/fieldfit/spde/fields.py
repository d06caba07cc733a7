"""Spatially varying parameters of nonstationary SPDEs (κ(x), τ(x), H(x), …).

A parameter field is a function of the coordinates with named scalar weights,

    θ(x) = g( w₀ + Σ_{k=1}^{K} w_k b_k(x) )        (basis expansion)
    θ(x) = g( w₀ + NN_w(x) )                        (a small neural network)

with a link g (``exp`` for positive quantities such as κ and τ, the identity otherwise). The
weights are ordinary :class:`~fieldfit.params.Param` entries named ``{name}`` (the intercept
w₀, on the natural scale of θ: θ(x) = w₀ when the other weights are 0) and
``{name}_w{k}``, so the optimisers, the priors and the standard errors treat them like any
other parameter; all weights start at 0, i.e. at the stationary model (Lindgren, Rue &
Lindström 2011, §3.2; Fuglstad et al. 2015 for nonstationary SPDE fields).

The extension point is ``basis(x) -> (n, K)``: a new basis needs only that (as
:class:`RadialBasisField` and :class:`BSplineField`); :class:`NeuralField` overrides
``__call__`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy.interpolate import BSpline

from ..params import DTYPE, Param, positive, real

LINKS = ("exp", "identity")


class Field:
    """θ(x) = g(w₀ + Σ_k w_k b_k(x)) with ``basis(x) -> (n, K)`` (the extension point)."""

    def __init__(self, name: str, value: float = 1.0, link: str = "exp", fixed: bool = False):
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}; choose one of {LINKS}")
        if link == "exp" and not value > 0:
            raise ValueError(
                f"field {name!r} with the exp link needs a positive value, got {value}")
        self.name, self.value, self.link, self.fixed = name, float(value), link, fixed

    # --- extension point ----------------------------------------------------------------
    def basis(self, x: np.ndarray) -> np.ndarray:
        """The basis functions at ``x (n, d)``: ``(n, K)`` (K = 0 for a constant field)."""
        return np.zeros((len(x), 0))

    # --- derived ------------------------------------------------------------------------
    @property
    def n_weights(self) -> int:
        return self.basis(np.zeros((1, self.dim_hint()))).shape[1]

    def dim_hint(self) -> int:
        return 2

    def weight_names(self) -> list[str]:
        return [f"{self.name}_w{k}" for k in range(self.n_weights)]

    def param_specs(self) -> list[Param]:
        """The intercept (natural scale) and the weights, all at the stationary model."""
        out = [Param(self.name, positive if self.link == "exp" else real, self.value,
                     fixed=self.fixed, doc=f"{self.name} where the other weights are 0")]
        out += [Param(n, real, 0.0, doc=f"weight of basis function {k} of {self.name}")
                for k, n in enumerate(self.weight_names())]
        return out

    def design(self, x) -> torch.Tensor:
        """The basis at ``x`` as a float64 tensor ``(n, K)`` (evaluate once, reuse)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return torch.from_numpy(np.ascontiguousarray(self.basis(x), dtype=np.float64))

    def __call__(self, x, p: Mapping[str, torch.Tensor], design: torch.Tensor | None = None):
        """θ at ``x (n, d)``: ``(n,)``, differentiable in the weights. ``design``: the
        precomputed :meth:`design` of the same points."""
        B = self.design(x) if design is None else design
        w0 = torch.as_tensor(p[self.name], dtype=DTYPE)
        eta = torch.log(w0) if self.link == "exp" else w0
        if B.shape[1]:
            w = torch.stack([torch.as_tensor(p[n], dtype=DTYPE) for n in self.weight_names()])
            eta = eta + B @ w
        else:
            eta = eta * torch.ones(B.shape[0], dtype=DTYPE)
        return torch.exp(eta) if self.link == "exp" else eta

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, K={self.n_weights})"


class ConstantField(Field):
    """θ(x) = w₀: a stationary parameter written as a field."""


class RadialBasisField(Field):
    """θ(x) = g(w₀ + Σ_k w_k φ(‖x − c_k‖ / s)), φ(r) = exp(−r²/2) ("gaussian") or the
    Wendland function (1 − r)₊⁴ (4r + 1) ("wendland", compact support); centres ``(K, d)``."""

    def __init__(self, name: str, centers, scale: float, value: float = 1.0, link: str = "exp",
                 kind: str = "gaussian", fixed: bool = False):
        super().__init__(name, value, link, fixed)
        self.centers = np.atleast_2d(np.asarray(centers, dtype=np.float64))
        if not scale > 0:
            raise ValueError(f"radial basis scale must be positive, got {scale}")
        if kind not in ("gaussian", "wendland"):
            raise ValueError(f"unknown radial basis {kind!r}; choose gaussian or wendland")
        self.scale, self.kind = float(scale), kind

    def dim_hint(self):
        return self.centers.shape[1]

    def basis(self, x):
        if x.shape[1] != self.centers.shape[1]:
            raise ValueError(f"points are {x.shape[1]}-D, the centres {self.centers.shape[1]}-D")
        r = np.sqrt(((x[:, None, :] - self.centers[None]) ** 2).sum(-1)) / self.scale
        if self.kind == "gaussian":
            return np.exp(-0.5 * r * r)
        return np.clip(1.0 - r, 0.0, None) ** 4 * (4.0 * r + 1.0)

    @classmethod
    def grid(cls, name: str, bounds, shape, value: float = 1.0, link: str = "exp",
             kind: str = "gaussian", overlap: float = 1.0) -> RadialBasisField:
        """Centres on a regular grid of ``shape`` over ``bounds`` (xmin, xmax, ymin, ymax, …);
        scale = ``overlap`` × the grid spacing."""
        bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        axes = [np.linspace(lo, hi, k) for (lo, hi), k in zip(bounds, shape, strict=True)]
        centers = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        spacing = min((hi - lo) / max(k - 1, 1) for (lo, hi), k in zip(bounds, shape,
                                                                          strict=True))
        return cls(name, centers, overlap * spacing, value, link, kind)


class BSplineField(Field):
    """θ(x) = g(w₀ + Σ w_k B_k(x)), tensor products of cubic B-splines (scipy), one knot
    vector per dimension over ``bounds``, minus one function (the intercept w₀ spans the
    constant, which the B-splines sum to)."""

    def __init__(self, name: str, bounds, n_basis, value: float = 1.0, link: str = "exp",
                 degree: int = 3, fixed: bool = False):
        super().__init__(name, value, link, fixed)
        self.bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        n_basis = [int(n_basis)] * len(self.bounds) if np.isscalar(n_basis) else list(n_basis)
        if any(k < degree + 1 for k in n_basis):
            raise ValueError(f"each dimension needs at least degree + 1 = {degree + 1} basis "
                             f"functions, got {n_basis}")
        self.degree, self.n_basis = int(degree), n_basis
        self.knots = []
        for (lo, hi), k in zip(self.bounds, n_basis, strict=True):
            inner = np.linspace(lo, hi, k - degree + 1)
            self.knots.append(np.concatenate([[lo] * degree, inner, [hi] * degree]))

    def dim_hint(self):
        return len(self.bounds)

    def basis(self, x):
        if x.shape[1] != len(self.bounds):
            raise ValueError(f"points are {x.shape[1]}-D, the spline {len(self.bounds)}-D")
        out = np.ones((len(x), 1))
        for a, t in enumerate(self.knots):
            lo, hi = self.bounds[a]
            xa = np.clip(x[:, a], lo, hi)  # constant extension beyond the bounds
            Ba = BSpline.design_matrix(xa, t, self.degree).toarray()
            out = (out[:, :, None] * Ba[:, None, :]).reshape(len(x), -1)
        return out[:, 1:]


class NeuralField(Field):
    """θ(x) = g(w₀ + NN(x)), NN a multilayer perceptron with ``hidden`` tanh layers and a
    linear output, its weights named ``{name}_w{k}`` (row-major, layer by layer). The output
    layer starts at 0 (the stationary model); the hidden layers at seeded Glorot-uniform
    values, stored as the parameters' defaults. Coordinates are scaled to [−1, 1] over
    ``bounds``."""

    def __init__(self, name: str, bounds, hidden=(16,), value: float = 1.0, link: str = "exp",
                 seed: int = 0, fixed: bool = False):
        super().__init__(name, value, link, fixed)
        self.bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        sizes = [len(self.bounds), *[int(h) for h in hidden], 1]
        self.shapes = [(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        rng = np.random.default_rng(seed)
        init = []
        for i, (a, b) in enumerate(self.shapes):
            last = i == len(self.shapes) - 1
            lim = 0.0 if last else np.sqrt(6.0 / (a + b))
            init.append(rng.uniform(-lim, lim, (a, b)).ravel())
            init.append(np.zeros(b))
        self.init = np.concatenate(init)

    @property
    def n_weights(self):
        return len(self.init)

    def param_specs(self):
        specs = super().param_specs()
        return [specs[0]] + [Param(s.name, real, float(v), doc=s.doc)
                             for s, v in zip(specs[1:], self.init, strict=True)]

    def design(self, x):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return torch.from_numpy(2.0 * (x - lo) / np.where(hi > lo, hi - lo, 1.0) - 1.0)

    def __call__(self, x, p, design=None):
        h = self.design(x) if design is None else design
        w = torch.stack([torch.as_tensor(p[n], dtype=DTYPE) for n in self.weight_names()])
        k = 0
        for i, (a, b) in enumerate(self.shapes):
            W = w[k : k + a * b].reshape(a, b)
            k += a * b
            bias = w[k : k + b]
            k += b
            h = h @ W + bias
            if i < len(self.shapes) - 1:
                h = torch.tanh(h)
        w0 = torch.as_tensor(p[self.name], dtype=DTYPE)
        eta = (torch.log(w0) if self.link == "exp" else w0) + h[:, 0]
        return torch.exp(eta) if self.link == "exp" else eta


__all__ = ["BSplineField", "ConstantField", "Field", "NeuralField", "RadialBasisField"]
