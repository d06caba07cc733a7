"""Priors of single parameters: one type for penalised likelihoods, MCMC and neural priors.

Every prior is plain data (``to_dict`` / :func:`prior_from_dict`: it travels with a saved
estimator or a Dask task) with a differentiable log density on the natural scale and seeded
draws:

    Bound(a, b, "uniform")       p(θ) = 1/(b − a)                 on (a, b)
    Bound(a, b, "loguniform")    p(θ) = 1/(θ (log b − log a))     on (a, b)
    Normal(μ, σ)                 p(θ) = N(θ; μ, σ²)
    LogNormal(μ, σ)              log θ ~ N(μ, σ²)
    Gamma(k, λ)                  p(θ) ∝ θ^{k−1} e^{−λθ}           (shape k, rate λ)
    Exponential(λ)               p(θ) = λ e^{−λθ}
    HalfNormal(s)                p(θ) = 2 N(θ; 0, s²)              on (0, ∞)
    InverseGamma(a, b)           p(θ) ∝ θ^{−a−1} e^{−b/θ}         (shape a, scale b)
    PCRange(ρ₀, α, d)            p(ρ) = (d/2) λ ρ^{−1−d/2} e^{−λ ρ^{−d/2}},  λ = −log(α) ρ₀^{d/2}
    PCVariance(σ₀, α)            σ = √θ ~ Exp(λ),  λ = −log(α)/σ₀:
                                 p(θ) = λ e^{−λ√θ} / (2√θ)
    TorchPrior(dist)             any ``torch.distributions`` object (not plain data)

The penalised-complexity (PC) priors are those of Fuglstad, Simpson, Lindgren & Rue (2019,
JASA 114:445–452) for the Matérn field in d dimensions, the R-INLA default
(``inla.spde2.pcmatern``):
P(range < ρ₀) = α for the range, P(σ > σ₀) = α for the marginal standard deviation σ. They are
stated in natural units but put on fieldfit's parameters: ``range`` itself, and the *variance*
θ = σ² (``variance``, ``nugget``), so :class:`PCVariance`'s density carries the Jacobian
|dσ/dθ| = 1/(2√θ) of σ = √θ. For a Gaussian noise variance (``nugget``) the same prior is the
PC prior of the noise precision (Simpson et al. 2017, Stat. Sci. 32:1–28).

Densities come from ``torch.distributions`` (not rewritten here); draws from a
``numpy.random.Generator`` so that a simulation's parameters are a function of its seed.
Bounded priors (:class:`Bound`) also map θ to the *unit scale* u ∈ (0, 1),

    uniform(a, b):      u = (θ − a) / (b − a)
    loguniform(a, b):   u = (log θ − log a) / (log b − log a)

on which the neural estimators work (:mod:`fieldfit.neural.prior`). Attach priors to
parameters with ``Param(..., prior=...)`` or ``ParamSpace.with_priors``; ``fit(..., priors=...)``
maximises the penalised likelihood ℓ(θ) + Σ log p(θ_i).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch

DTYPE = torch.float64
KINDS = ("uniform", "loguniform")


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=DTYPE)


class Distribution:
    """A prior on one parameter's natural scale (see the module docstring)."""

    kind = "distribution"

    def torch(self) -> torch.distributions.Distribution:
        """The equivalent ``torch.distributions`` object (densities are its)."""
        raise NotImplementedError

    @functools.cached_property
    def _density(self) -> torch.distributions.Distribution:
        """:meth:`torch`, made once (a sampler evaluates the density thousands of times),
        without torch's argument checks: :meth:`log_prob` only passes it points inside the
        support."""
        before = torch.distributions.Distribution._validate_args
        torch.distributions.Distribution.set_default_validate_args(False)
        try:
            return self.torch()
        finally:
            torch.distributions.Distribution.set_default_validate_args(before)

    def log_prob(self, x) -> torch.Tensor:
        """log p(x), differentiable in x; −∞ outside the support."""
        x = _t(x)
        lo, hi = self.support
        inside = (x > lo) & (x < hi)
        safe = torch.where(inside, x, _t(self.interior))
        return torch.where(inside, self._density.log_prob(safe), _t(-math.inf))

    @property
    def support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    @property
    def interior(self) -> float:
        """A point inside the support (where the density is evaluated for points outside)."""
        lo, hi = self.support
        if math.isfinite(lo) and math.isfinite(hi):
            return 0.5 * (lo + hi)
        if math.isfinite(lo):
            return lo + 1.0
        return 0.0

    def sample(self, n: int, rng=None) -> np.ndarray:
        """``(n,)`` draws from a numpy Generator (or seed)."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Bound(Distribution):
    """Uniform or log-uniform on ``(lower, upper)``; maps to the unit scale (module doc)."""

    lower: float
    upper: float
    kind: str = "uniform"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"prior kind must be one of {KINDS}, got {self.kind!r}")
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)
                and self.lower < self.upper):
            raise ValueError(f"prior needs finite lower < upper, got ({self.lower}, {self.upper})")
        if self.kind == "loguniform" and self.lower <= 0:
            raise ValueError(f"a log-uniform prior needs lower > 0, got {self.lower}")

    @property
    def support(self):
        return (self.lower, self.upper)

    def log_prob(self, x) -> torch.Tensor:
        x = _t(x)
        inside = (x > self.lower) & (x < self.upper)
        if self.kind == "uniform":
            lp = _t(-math.log(self.upper - self.lower)).expand_as(x)
        else:
            safe = torch.where(inside, x, _t(self.interior))
            lp = -torch.log(safe) - math.log(math.log(self.upper) - math.log(self.lower))
        return torch.where(inside, lp, _t(-math.inf))

    def _g(self, x):
        return np.log(x) if self.kind == "loguniform" else x

    def to_unit(self, x):
        lo, hi = self._g(self.lower), self._g(self.upper)
        return (self._g(np.asarray(x, dtype=np.float64)) - lo) / (hi - lo)

    def from_unit(self, u):
        lo, hi = self._g(self.lower), self._g(self.upper)
        v = lo + (hi - lo) * np.asarray(u, dtype=np.float64)
        return np.exp(v) if self.kind == "loguniform" else v

    def sample(self, n, rng=None):
        return self.from_unit(np.random.default_rng(rng).uniform(size=int(n)))

    def to_dict(self):
        return {"kind": self.kind, "lower": self.lower, "upper": self.upper}


def _positive(name: str, v: float) -> None:
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {v}")


class _OnPositives(Distribution):
    """A prior on (0, ∞)."""

    @property
    def support(self):
        return (0.0, math.inf)


@dataclass(frozen=True)
class _LocationScale(Distribution):
    """A prior with a location ``loc`` and a positive ``scale``; ``family`` names both the
    torch distribution and numpy's sampler."""

    loc: float
    scale: float
    family = ""

    def __post_init__(self):
        _positive("scale", self.scale)

    def torch(self):
        return getattr(torch.distributions, self.family)(_t(self.loc), _t(self.scale))

    def sample(self, n, rng=None):
        draw = getattr(np.random.default_rng(rng), self.family.lower())
        return draw(self.loc, self.scale, size=int(n))


@dataclass(frozen=True)
class Normal(_LocationScale):
    """N(loc, scale²) on the real line."""

    kind, family = "normal", "Normal"


@dataclass(frozen=True)
class LogNormal(_LocationScale, _OnPositives):
    """log θ ~ N(loc, scale²) on (0, ∞)."""

    kind, family = "lognormal", "LogNormal"


@dataclass(frozen=True)
class Gamma(_OnPositives):
    """Gamma with shape ``concentration`` k and ``rate`` λ on (0, ∞)."""

    concentration: float
    rate: float
    kind = "gamma"

    def __post_init__(self):
        _positive("concentration", self.concentration)
        _positive("rate", self.rate)

    def torch(self):
        return torch.distributions.Gamma(_t(self.concentration), _t(self.rate))

    def sample(self, n, rng=None):
        return np.random.default_rng(rng).gamma(self.concentration, 1.0 / self.rate,
                                                size=int(n))


@dataclass(frozen=True)
class Exponential(_OnPositives):
    """Exponential with ``rate`` λ on (0, ∞)."""

    rate: float
    kind = "exponential"

    def __post_init__(self):
        _positive("rate", self.rate)

    def torch(self):
        return torch.distributions.Exponential(_t(self.rate))

    def sample(self, n, rng=None):
        return np.random.default_rng(rng).exponential(1.0 / self.rate, size=int(n))


@dataclass(frozen=True)
class HalfNormal(_OnPositives):
    """|N(0, scale²)| on (0, ∞)."""

    scale: float
    kind = "halfnormal"

    def __post_init__(self):
        _positive("scale", self.scale)

    def torch(self):
        return torch.distributions.HalfNormal(_t(self.scale))

    def sample(self, n, rng=None):
        return np.abs(np.random.default_rng(rng).normal(0.0, self.scale, size=int(n)))


@dataclass(frozen=True)
class InverseGamma(_OnPositives):
    """1/θ ~ Gamma(``concentration`` a, rate ``scale`` b): p(θ) ∝ θ^{−a−1} e^{−b/θ}."""

    concentration: float
    scale: float
    kind = "invgamma"

    def __post_init__(self):
        _positive("concentration", self.concentration)
        _positive("scale", self.scale)

    def torch(self):
        return torch.distributions.InverseGamma(_t(self.concentration), _t(self.scale))

    def sample(self, n, rng=None):
        g = np.random.default_rng(rng).gamma(self.concentration, 1.0 / self.scale, size=int(n))
        return 1.0 / g


def _probability(name: str, v: float) -> None:
    if not (math.isfinite(v) and 0 < v < 1):
        raise ValueError(f"{name} is a probability and must lie in (0, 1), got {v}")


@dataclass(frozen=True)
class PCRange(_OnPositives):
    """PC prior of a Matérn range ρ in ``dim`` dimensions with P(ρ < ``rho0``) = ``alpha``
    (Fuglstad et al. 2019, eq. 3.2):

        p(ρ) = (d/2) λ ρ^{−1−d/2} exp(−λ ρ^{−d/2}),   λ = −log(α) ρ₀^{d/2}

    i.e. ρ^{−d/2} ~ Exp(λ) (a power transform of torch's Exponential)."""

    rho0: float
    alpha: float
    dim: int = 2
    kind = "pc-range"

    def __post_init__(self):
        _positive("rho0 (the range below which the prior puts probability alpha)", self.rho0)
        _probability("alpha", self.alpha)
        if int(self.dim) != self.dim or self.dim < 1:
            raise ValueError(f"dim must be a positive integer, got {self.dim}")

    @property
    def rate(self) -> float:
        return -math.log(self.alpha) * self.rho0 ** (self.dim / 2)

    def torch(self):
        T = torch.distributions.transforms
        return torch.distributions.TransformedDistribution(
            torch.distributions.Exponential(_t(self.rate)),
            [T.PowerTransform(_t(-2.0 / self.dim))])

    def sample(self, n, rng=None):
        e = np.random.default_rng(rng).exponential(1.0 / self.rate, size=int(n))
        return e ** (-2.0 / self.dim)


@dataclass(frozen=True)
class PCVariance(_OnPositives):
    """PC prior of a variance θ = σ² with P(σ > ``sigma0``) = ``alpha`` (Fuglstad et al. 2019,
    eq. 3.3; stated for the standard deviation σ, put on the variance):

        σ ~ Exp(λ),  λ = −log(α)/σ₀,   p(θ) = λ exp(−λ√θ) / (2√θ)"""

    sigma0: float
    alpha: float
    kind = "pc-variance"

    def __post_init__(self):
        _positive("sigma0 (the standard deviation above which the prior puts probability "
                  "alpha)", self.sigma0)
        _probability("alpha", self.alpha)

    @property
    def rate(self) -> float:
        return -math.log(self.alpha) / self.sigma0

    def torch(self):
        T = torch.distributions.transforms
        return torch.distributions.TransformedDistribution(
            torch.distributions.Exponential(_t(self.rate)), [T.PowerTransform(_t(2.0))])

    def sample(self, n, rng=None):
        return np.random.default_rng(rng).exponential(1.0 / self.rate, size=int(n)) ** 2


class TorchPrior(Distribution):
    """Any ``torch.distributions`` distribution as a prior (its ``log_prob``, −∞ outside its
    support; draws from a torch generator seeded by the numpy one). Not plain data:
    ``to_dict`` raises, so it cannot travel with a saved estimator."""

    kind = "torch"

    def __init__(self, dist: torch.distributions.Distribution):
        if not isinstance(dist, torch.distributions.Distribution):
            raise TypeError(f"TorchPrior needs a torch.distributions.Distribution, got "
                            f"{type(dist).__name__}")
        if dist.event_shape != torch.Size() or dist.batch_shape != torch.Size():
            raise ValueError("a prior of one parameter must be a scalar distribution, got "
                             f"batch {tuple(dist.batch_shape)}, event {tuple(dist.event_shape)}")
        self.dist = dist

    def torch(self):
        return self.dist

    def log_prob(self, x) -> torch.Tensor:
        x = _t(x)
        inside = self.dist.support.check(x)
        safe = torch.where(inside, x, self.dist.mean.to(DTYPE).detach()
                           if torch.isfinite(self.dist.mean).all() else _t(1.0))
        return torch.where(inside, self.dist.log_prob(safe).to(DTYPE), _t(-math.inf))

    def sample(self, n, rng=None):
        seed = int(np.random.default_rng(rng).integers(2**62))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dist.sample((int(n),)).double().numpy()

    def to_dict(self):
        raise TypeError(f"a TorchPrior ({self.dist!r}) is not plain data: use a fieldfit.priors "
                        "class to save or send it")

    def __repr__(self):
        return f"TorchPrior({self.dist!r})"


PRIORS: dict[str, type[Distribution]] = {"normal": Normal, "lognormal": LogNormal,
                                         "gamma": Gamma, "exponential": Exponential,
                                         "halfnormal": HalfNormal, "invgamma": InverseGamma,
                                         "pc-range": PCRange, "pc-variance": PCVariance}


def prior_from_dict(d: Mapping) -> Distribution:
    """The prior that ``to_dict`` described."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind in KINDS:
        return Bound(float(d["lower"]), float(d["upper"]), kind)
    if kind not in PRIORS:
        raise ValueError(f"unknown prior kind {kind!r}; choose one of {[*KINDS, *PRIORS]}")
    return PRIORS[kind](**{k: (int(v) if k == "dim" else float(v)) for k, v in d.items()})


__all__ = ["Bound", "Distribution", "Exponential", "Gamma", "HalfNormal", "InverseGamma",
           "LogNormal", "Normal", "PCRange", "PCVariance", "PRIORS", "TorchPrior",
           "prior_from_dict"]
