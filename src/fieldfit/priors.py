r"""Priors of single parameters: one type for penalised likelihoods, MCMC and neural priors.

Every prior is plain data (``to_dict`` / :func:`prior_from_dict`: it travels with a saved
estimator or a Dask task) with a differentiable log density on the natural scale and seeded
draws::

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
    TorchPrior(dist)             any torch.distributions object (not plain data)

The penalised-complexity (PC) priors are those of Fuglstad, Simpson, Lindgren & Rue (2019,
JASA 114:445–452) for the Matérn field in d dimensions, the R-INLA default
(``inla.spde2.pcmatern``): :math:`P(\rho < \rho_0) = \alpha` for the range,
:math:`P(\sigma > \sigma_0) = \alpha` for the marginal standard deviation σ. They are
stated in natural units but put on fieldfit's parameters: ``range`` itself, and the *variance*
θ = σ² (``variance``, ``nugget``), so :class:`PCVariance`'s density carries the Jacobian
:math:`|d\sigma/d\theta| = 1/(2\sqrt{\theta})` of σ = √θ. For a Gaussian noise variance
(``nugget``) the same prior is the PC prior of the noise precision (Simpson et al. 2017,
Stat. Sci. 32:1–28).

Densities come from ``torch.distributions`` (not rewritten here); draws from a
``numpy.random.Generator`` so that a simulation's parameters are a function of its seed.
Bounded priors (:class:`Bound`) also map θ to the *unit scale* u ∈ (0, 1)::

    uniform(a, b):      u = (θ − a) / (b − a)
    loguniform(a, b):   u = (log θ − log a) / (log b − log a)

on which the neural estimators work (:mod:`fieldfit.neural.prior`). Attach priors to
parameters with ``Param(..., prior=...)`` or ``ParamSpace.with_priors``; ``fit(..., priors=...)``
maximises the penalised likelihood :math:`\ell(\theta) + \sum_i \log p(\theta_i)`.
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
    """A prior on one parameter's natural scale (base class; see the module docstring).

    Subclasses supply :meth:`torch` (the density), :attr:`support` and :meth:`sample`;
    :meth:`log_prob` then evaluates the density inside the support and returns −∞ outside.
    """

    kind = "distribution"

    def torch(self) -> torch.distributions.Distribution:
        """The equivalent ``torch.distributions`` object (densities are its).

        Returns
        -------
        torch.distributions.Distribution
            The distribution whose ``log_prob`` is this prior's log density.

        Raises
        ------
        NotImplementedError
            On the base class.
        """
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
        r"""Log density :math:`\log p(x)`, differentiable in ``x``; −∞ outside the support.

        Parameters
        ----------
        x : float or array_like or torch.Tensor
            Point(s) on the natural scale, any shape.

        Returns
        -------
        torch.Tensor
            float64 log density, the shape of ``x``.
        """
        x = _t(x)
        lo, hi = self.support
        inside = (x > lo) & (x < hi)
        safe = torch.where(inside, x, _t(self.interior))
        return torch.where(inside, self._density.log_prob(safe), _t(-math.inf))

    @property
    def support(self) -> tuple[float, float]:
        """The open interval ``(lower, upper)`` on which the density is positive.

        Returns
        -------
        tuple of float
            ``(-inf, inf)`` on the base class.
        """
        return (-math.inf, math.inf)

    @property
    def interior(self) -> float:
        """A point inside the support (where the density is evaluated for points outside).

        Returns
        -------
        float
            The midpoint of a bounded support, ``lower + 1`` of a half-bounded one, else 0.
        """
        lo, hi = self.support
        if math.isfinite(lo) and math.isfinite(hi):
            return 0.5 * (lo + hi)
        if math.isfinite(lo):
            return lo + 1.0
        return 0.0

    def sample(self, n: int, rng=None) -> np.ndarray:
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.

        Raises
        ------
        NotImplementedError
            On the base class.
        """
        raise NotImplementedError

    def to_dict(self) -> dict:
        """The prior as plain data, which :func:`prior_from_dict` turns back into the prior.

        Returns
        -------
        dict
            ``{"kind": ..., <field>: <value>, ...}``.
        """
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class Bound(Distribution):
    r"""Uniform or log-uniform prior on ``(lower, upper)``, with a map to the unit scale.

    .. math::

        p_{\mathrm{uniform}}(\theta) = \frac{1}{b - a}, \qquad
        p_{\mathrm{loguniform}}(\theta) = \frac{1}{\theta (\log b - \log a)},
        \qquad a < \theta < b.

    The unit scale :math:`u \in (0, 1)` is :math:`u = (\theta - a)/(b - a)` (uniform) or
    :math:`u = (\log\theta - \log a)/(\log b - \log a)` (log-uniform); the neural estimators
    work on it.

    Parameters
    ----------
    lower, upper : float
        Finite bounds :math:`a < b`.
    kind : {"uniform", "loguniform"}, default "uniform"
        Uniform in θ or in :math:`\log\theta`.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, the bounds are not finite with ``lower < upper``, or a
        log-uniform prior has ``lower <= 0``.
    """

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
        """The open interval ``(lower, upper)``.

        Returns
        -------
        tuple of float
            ``(lower, upper)``.
        """
        return (self.lower, self.upper)

    def log_prob(self, x) -> torch.Tensor:
        """Log density of the uniform or log-uniform prior; −∞ outside ``(lower, upper)``.

        Parameters
        ----------
        x : float or array_like or torch.Tensor
            Point(s) on the natural scale, any shape.

        Returns
        -------
        torch.Tensor
            float64 log density, the shape of ``x``.
        """
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
        """Map natural-scale values to the unit scale ``u`` in (0, 1).

        Parameters
        ----------
        x : float or array_like
            Values on the natural scale, any shape.

        Returns
        -------
        numpy.ndarray
            ``(x - lower) / (upper - lower)``, on the log scale for a log-uniform prior; the
            shape of ``x``.
        """
        lo, hi = self._g(self.lower), self._g(self.upper)
        return (self._g(np.asarray(x, dtype=np.float64)) - lo) / (hi - lo)

    def from_unit(self, u):
        """Map unit-scale values back to the natural scale (inverse of :meth:`to_unit`).

        Parameters
        ----------
        u : float or array_like
            Values on the unit scale, any shape.

        Returns
        -------
        numpy.ndarray
            Natural-scale values, the shape of ``u``.
        """
        lo, hi = self._g(self.lower), self._g(self.upper)
        v = lo + (hi - lo) * np.asarray(u, dtype=np.float64)
        return np.exp(v) if self.kind == "loguniform" else v

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        return self.from_unit(np.random.default_rng(rng).uniform(size=int(n)))

    def to_dict(self):
        """The prior as plain data.

        Returns
        -------
        dict
            ``{"kind": kind, "lower": lower, "upper": upper}``.
        """
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
    r"""Normal prior :math:`\mathcal{N}(\mathrm{loc}, \mathrm{scale}^2)` on the real line.

    .. math::

        p(\theta) = \frac{1}{\sqrt{2\pi}\,s} \exp\!\left(-\frac{(\theta - \mu)^2}{2 s^2}\right).

    Parameters
    ----------
    loc : float
        Mean μ.
    scale : float
        Standard deviation s > 0.

    Raises
    ------
    ValueError
        If ``scale`` is not positive and finite.
    """

    kind, family = "normal", "Normal"


@dataclass(frozen=True)
class LogNormal(_LocationScale, _OnPositives):
    r"""Log-normal prior: :math:`\log\theta \sim \mathcal{N}(\mathrm{loc}, \mathrm{scale}^2)`.

    .. math::

        p(\theta) = \frac{1}{\theta \sqrt{2\pi}\,s}
        \exp\!\left(-\frac{(\log\theta - \mu)^2}{2 s^2}\right).

    Parameters
    ----------
    loc : float
        Mean μ of :math:`\log\theta`.
    scale : float
        Standard deviation s > 0 of :math:`\log\theta`.

    Raises
    ------
    ValueError
        If ``scale`` is not positive and finite.
    """

    kind, family = "lognormal", "LogNormal"


@dataclass(frozen=True)
class Gamma(_OnPositives):
    r"""Gamma prior with shape ``concentration`` k and ``rate`` λ on (0, ∞).

    .. math::

        p(\theta) = \frac{\lambda^k}{\Gamma(k)} \theta^{k-1} e^{-\lambda\theta}.

    Parameters
    ----------
    concentration : float
        Shape k > 0.
    rate : float
        Rate λ > 0 (mean k/λ).

    Raises
    ------
    ValueError
        If either parameter is not positive and finite.
    """

    concentration: float
    rate: float
    kind = "gamma"

    def __post_init__(self):
        _positive("concentration", self.concentration)
        _positive("rate", self.rate)

    def torch(self):
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            ``torch.distributions.Gamma(concentration, rate)``.
        """
        return torch.distributions.Gamma(_t(self.concentration), _t(self.rate))

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        return np.random.default_rng(rng).gamma(self.concentration, 1.0 / self.rate,
                                                size=int(n))


@dataclass(frozen=True)
class Exponential(_OnPositives):
    r"""Exponential prior with ``rate`` λ on (0, ∞): :math:`p(\theta) = \lambda e^{-\lambda\theta}`.

    Parameters
    ----------
    rate : float
        Rate λ > 0 (mean 1/λ).

    Raises
    ------
    ValueError
        If ``rate`` is not positive and finite.
    """

    rate: float
    kind = "exponential"

    def __post_init__(self):
        _positive("rate", self.rate)

    def torch(self):
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            ``torch.distributions.Exponential(rate)``.
        """
        return torch.distributions.Exponential(_t(self.rate))

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        return np.random.default_rng(rng).exponential(1.0 / self.rate, size=int(n))


@dataclass(frozen=True)
class HalfNormal(_OnPositives):
    r"""Half-normal prior :math:`|\mathcal{N}(0, \mathrm{scale}^2)|` on (0, ∞).

    .. math::

        p(\theta) = \frac{2}{\sqrt{2\pi}\,s} \exp\!\left(-\frac{\theta^2}{2 s^2}\right).

    Parameters
    ----------
    scale : float
        Scale s > 0 of the underlying normal.

    Raises
    ------
    ValueError
        If ``scale`` is not positive and finite.
    """

    scale: float
    kind = "halfnormal"

    def __post_init__(self):
        _positive("scale", self.scale)

    def torch(self):
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            ``torch.distributions.HalfNormal(scale)``.
        """
        return torch.distributions.HalfNormal(_t(self.scale))

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        return np.abs(np.random.default_rng(rng).normal(0.0, self.scale, size=int(n)))


@dataclass(frozen=True)
class InverseGamma(_OnPositives):
    r"""Inverse-gamma prior: :math:`1/\theta \sim \mathrm{Gamma}(a, \text{rate } b)` on (0, ∞).

    .. math::

        p(\theta) = \frac{b^a}{\Gamma(a)} \theta^{-a-1} e^{-b/\theta}.

    Parameters
    ----------
    concentration : float
        Shape a > 0.
    scale : float
        Scale b > 0 (the rate of the gamma distribution of 1/θ).

    Raises
    ------
    ValueError
        If either parameter is not positive and finite.
    """

    concentration: float
    scale: float
    kind = "invgamma"

    def __post_init__(self):
        _positive("concentration", self.concentration)
        _positive("scale", self.scale)

    def torch(self):
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            ``torch.distributions.InverseGamma(concentration, scale)``.
        """
        return torch.distributions.InverseGamma(_t(self.concentration), _t(self.scale))

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        g = np.random.default_rng(rng).gamma(self.concentration, 1.0 / self.scale, size=int(n))
        return 1.0 / g


def _probability(name: str, v: float) -> None:
    if not (math.isfinite(v) and 0 < v < 1):
        raise ValueError(f"{name} is a probability and must lie in (0, 1), got {v}")


@dataclass(frozen=True)
class PCRange(_OnPositives):
    r"""Penalised-complexity prior of a Matérn range ρ in ``dim`` dimensions.

    It puts probability ``alpha`` below ``rho0``, :math:`P(\rho < \rho_0) = \alpha`
    (Fuglstad, Simpson, Lindgren & Rue 2019, eq. 3.2):

    .. math::

        p(\rho) = \frac{d}{2} \lambda \rho^{-1-d/2} \exp(-\lambda \rho^{-d/2}),
        \qquad \lambda = -\log(\alpha)\, \rho_0^{d/2},

    i.e. :math:`\rho^{-d/2} \sim \mathrm{Exp}(\lambda)` (a power transform of torch's
    Exponential).

    Parameters
    ----------
    rho0 : float
        Range :math:`\rho_0 > 0` below which the prior puts probability ``alpha``.
    alpha : float
        Probability in (0, 1).
    dim : int, default 2
        Spatial dimension d of the field.

    Raises
    ------
    ValueError
        If ``rho0`` is not positive and finite, ``alpha`` is not in (0, 1), or ``dim`` is not
        a positive integer.

    References
    ----------
    Fuglstad, G.-A., Simpson, D., Lindgren, F. & Rue, H. (2019). Constructing priors that
    penalize the complexity of Gaussian random fields. JASA 114, 445–452.
    """

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
        r"""The rate :math:`\lambda = -\log(\alpha)\, \rho_0^{d/2}` of :math:`\rho^{-d/2}`.

        Returns
        -------
        float
            λ > 0.
        """
        return -math.log(self.alpha) * self.rho0 ** (self.dim / 2)

    def torch(self):
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            ``Exponential(rate)`` transformed by :math:`x^{-2/d}`.
        """
        T = torch.distributions.transforms
        return torch.distributions.TransformedDistribution(
            torch.distributions.Exponential(_t(self.rate)),
            [T.PowerTransform(_t(-2.0 / self.dim))])

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        e = np.random.default_rng(rng).exponential(1.0 / self.rate, size=int(n))
        return e ** (-2.0 / self.dim)


@dataclass(frozen=True)
class PCVariance(_OnPositives):
    r"""Penalised-complexity prior of a variance θ = σ², stated for the standard deviation σ.

    It puts probability ``alpha`` above ``sigma0``, :math:`P(\sigma > \sigma_0) = \alpha`
    (Fuglstad et al. 2019, eq. 3.3; Simpson et al. 2017), and carries the Jacobian of
    :math:`\sigma = \sqrt{\theta}`:

    .. math::

        \sigma \sim \mathrm{Exp}(\lambda), \quad \lambda = -\log(\alpha)/\sigma_0, \qquad
        p(\theta) = \frac{\lambda \exp(-\lambda\sqrt{\theta})}{2\sqrt{\theta}}.

    Parameters
    ----------
    sigma0 : float
        Standard deviation :math:`\sigma_0 > 0` above which the prior puts probability
        ``alpha``.
    alpha : float
        Probability in (0, 1).

    Raises
    ------
    ValueError
        If ``sigma0`` is not positive and finite or ``alpha`` is not in (0, 1).

    References
    ----------
    Simpson, D., Rue, H., Riebler, A., Martins, T. G. & Sørbye, S. H. (2017). Penalising model
    component complexity: a principled, practical approach to constructing priors.
    Statistical Science 32, 1–28.

    Fuglstad, G.-A., Simpson, D., Lindgren, F. & Rue, H. (2019). JASA 114, 445–452.
    """

    sigma0: float
    alpha: float
    kind = "pc-variance"

    def __post_init__(self):
        _positive("sigma0 (the standard deviation above which the prior puts probability "
                  "alpha)", self.sigma0)
        _probability("alpha", self.alpha)

    @property
    def rate(self) -> float:
        r"""The rate :math:`\lambda = -\log(\alpha)/\sigma_0` of σ.

        Returns
        -------
        float
            λ > 0.
        """
        return -math.log(self.alpha) / self.sigma0

    def torch(self):
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            ``Exponential(rate)`` transformed by :math:`x^2`.
        """
        T = torch.distributions.transforms
        return torch.distributions.TransformedDistribution(
            torch.distributions.Exponential(_t(self.rate)), [T.PowerTransform(_t(2.0))])

    def sample(self, n, rng=None):
        """Draw ``n`` values from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed passed to :func:`numpy.random.default_rng`; draws are a
            function of the seed.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` draws on the natural scale.
        """
        return np.random.default_rng(rng).exponential(1.0 / self.rate, size=int(n)) ** 2


class TorchPrior(Distribution):
    """Any scalar ``torch.distributions`` distribution as a prior.

    The log density is the distribution's ``log_prob`` (−∞ outside its support); draws come from
    a torch generator seeded by the numpy one. Not plain data: :meth:`to_dict` raises, so it
    cannot travel with a saved estimator.

    Parameters
    ----------
    dist : torch.distributions.Distribution
        A distribution with empty batch and event shapes.

    Raises
    ------
    TypeError
        If ``dist`` is not a ``torch.distributions.Distribution``.
    ValueError
        If ``dist`` is not scalar (non-empty batch or event shape).
    """

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
        """The equivalent ``torch.distributions`` object, whose ``log_prob`` gives the density.

        Returns
        -------
        torch.distributions.Distribution
            The wrapped ``dist``.
        """
        return self.dist

    def log_prob(self, x) -> torch.Tensor:
        """Log density from ``dist.log_prob``; −∞ outside ``dist.support``.

        Parameters
        ----------
        x : float or array_like or torch.Tensor
            Point(s) on the natural scale, any shape.

        Returns
        -------
        torch.Tensor
            float64 log density, the shape of ``x``.
        """
        x = _t(x)
        inside = self.dist.support.check(x)
        safe = torch.where(inside, x, self.dist.mean.to(DTYPE).detach()
                           if torch.isfinite(self.dist.mean).all() else _t(1.0))
        return torch.where(inside, self.dist.log_prob(safe).to(DTYPE), _t(-math.inf))

    def sample(self, n, rng=None):
        """Draw ``n`` values with torch, seeded from ``rng`` (torch's global RNG state is restored).

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None, optional
            Generator or seed from which the torch seed is drawn.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` float64 draws.
        """
        seed = int(np.random.default_rng(rng).integers(2**62))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dist.sample((int(n),)).double().numpy()

    def to_dict(self):
        """Always raises: a torch distribution is not plain data.

        Raises
        ------
        TypeError
            Always; use a :mod:`fieldfit.priors` class to save or send a prior.
        """
        raise TypeError(f"a TorchPrior ({self.dist!r}) is not plain data: use a fieldfit.priors "
                        "class to save or send it")

    def __repr__(self):
        return f"TorchPrior({self.dist!r})"


PRIORS: dict[str, type[Distribution]] = {"normal": Normal, "lognormal": LogNormal,
                                         "gamma": Gamma, "exponential": Exponential,
                                         "halfnormal": HalfNormal, "invgamma": InverseGamma,
                                         "pc-range": PCRange, "pc-variance": PCVariance}


def prior_from_dict(d: Mapping) -> Distribution:
    """Rebuild the prior that ``to_dict`` described.

    Parameters
    ----------
    d : Mapping
        ``{"kind": ..., <field>: <value>, ...}`` as written by ``to_dict``.

    Returns
    -------
    Distribution
        A :class:`Bound` for kinds ``"uniform"`` / ``"loguniform"``, else the class named in
        ``PRIORS``.

    Raises
    ------
    ValueError
        If ``kind`` is missing or unknown.
    """
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
