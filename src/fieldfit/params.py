"""Named parameters, their transforms to an unconstrained vector, priors, packing.

A model's parameters live in a :class:`ParamSpace`: an ordered set of :class:`Param`, each with
a transform from the unconstrained real line to its natural domain,

    positive:        θ = exp(u)
    interval(a, b):  θ = a + (b − a) · sigmoid(u)
    real:            θ = u

Optimisers and samplers work on the unconstrained vector ``u`` of the *free* parameters;
models read a ``dict[name -> tensor]`` of natural values, fixed ones included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .errors import did_you_mean
from .priors import Distribution

DTYPE = torch.float64


class Transform:
    """Bijection from the real line ``u`` to a parameter's natural domain ``θ`` (here the
    identity): ``forward``, ``inverse`` and ``log_abs_det_jacobian`` (log|dθ/du|, what MCMC
    adds to the log density on the u scale)."""

    name = "real"

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def log_abs_det_jacobian(self, u: torch.Tensor) -> torch.Tensor:
        """log|dθ/du| elementwise at ``u`` (any shape), differentiable in u: 0 for the
        identity; a subclass overrides it with :meth:`forward` and :meth:`inverse`."""
        return torch.zeros_like(u)

    def check(self, x: float, pname: str) -> None:
        if not math.isfinite(x):
            raise ValueError(f"parameter {pname!r} must be finite, got {x}")

    def __repr__(self) -> str:
        return self.name


class Positive(Transform):
    """θ = exp(u) on (0, ∞)."""

    name = "positive"

    def forward(self, u):
        return torch.exp(u)

    def inverse(self, x):
        return torch.log(x)

    def log_abs_det_jacobian(self, u):
        return u  # dθ/du = e^u

    def check(self, x, pname):
        super().check(x, pname)
        if x <= 0:
            raise ValueError(f"parameter {pname!r} must be positive, got {x}")


class _Box(Transform):
    """A transform onto the open box (lower, upper): the shared domain check."""

    lower: float
    upper: float

    def check(self, x, pname):
        super().check(x, pname)
        if not self.lower < x < self.upper:
            raise ValueError(
                f"parameter {pname!r} must lie in ({self.lower:g}, {self.upper:g}), got {x}"
            )


class Interval(_Box):
    """θ = a + (b − a) sigmoid(u) on (a, b)."""

    def __init__(self, lower: float, upper: float):
        if not lower < upper:
            raise ValueError(f"interval needs lower < upper, got ({lower}, {upper})")
        self.lower, self.upper = float(lower), float(upper)
        self.name = f"interval({self.lower:g}, {self.upper:g})"

    def forward(self, u):
        return self.lower + (self.upper - self.lower) * torch.sigmoid(u)

    def inverse(self, x):
        p = (x - self.lower) / (self.upper - self.lower)
        return torch.log(p) - torch.log1p(-p)

    def log_abs_det_jacobian(self, u):
        F = torch.nn.functional  # dθ/du = (b − a) σ(u) σ(−u)
        return math.log(self.upper - self.lower) + F.logsigmoid(u) + F.logsigmoid(-u)


class LogInterval(_Box):
    """θ = a (b / a)^sigmoid(u) on (a, b), 0 < a: log θ uniform in u's sigmoid (the natural
    transform of a log-uniform prior)."""

    def __init__(self, lower: float, upper: float):
        if not 0 < lower < upper:
            raise ValueError(f"log-interval needs 0 < lower < upper, got ({lower}, {upper})")
        self.lower, self.upper = float(lower), float(upper)
        self._log_lo, self._width = math.log(self.lower), math.log(self.upper / self.lower)
        self.name = f"log-interval({self.lower:g}, {self.upper:g})"

    def forward(self, u):
        return torch.exp(self._log_lo + self._width * torch.sigmoid(u))

    def inverse(self, x):
        p = (torch.log(x) - self._log_lo) / self._width
        return torch.log(p) - torch.log1p(-p)

    def log_abs_det_jacobian(self, u):
        F = torch.nn.functional  # dθ/du = θ w σ(u) σ(−u), w = log(b / a)
        return (self._log_lo + self._width * torch.sigmoid(u) + math.log(self._width)
                + F.logsigmoid(u) + F.logsigmoid(-u))


positive = Positive()
real = Transform()


def interval(lower: float, upper: float) -> Interval:
    return Interval(lower, upper)


@dataclass(frozen=True)
class Param:
    """One named parameter: its transform, a default value, whether it is fixed, a prior.

    ``prior`` is a :class:`fieldfit.priors.Distribution` on the natural scale (or None): the
    one prior type of penalised likelihoods (``fit(..., priors=...)``), MCMC and the neural
    priors (:class:`fieldfit.priors.Bound`).
    ``search`` is an optional natural-scale box ``(lo, hi)`` inside the domain that optimisers
    stay in, for directions where the likelihood flattens out (Matérn ν → ∞ tends to the
    Gaussian covariance); an estimate on its edge is reported as such.
    """

    name: str
    transform: Transform = field(default_factory=Transform)
    value: float | None = None
    fixed: bool = False
    prior: Distribution | None = None
    doc: str = ""
    search: tuple[float, float] | None = None
    #: set by the model's structure (the SPDE's ν = α − d/2): ``fix`` may restate the value
    #: but not change it; ``doc`` says which values the model can take
    locked: bool = False

    def __post_init__(self):
        if self.prior is not None and not isinstance(self.prior, Distribution):
            raise TypeError(f"the prior of {self.name!r} must be a fieldfit.priors "
                            f"Distribution (e.g. Bound, Normal, LogNormal, Gamma, PCRange; "
                            f"fieldfit.priors.TorchPrior wraps a torch distribution), got "
                            f"{type(self.prior).__name__}")
        if self.value is not None:
            self.transform.check(float(self.value), self.name)
        if self.search is not None:
            lo, hi = (float(v) for v in self.search)
            if not lo < hi:
                raise ValueError(f"search box of {self.name!r} needs lo < hi, got {self.search}")
            self.transform.check(lo, self.name)
            self.transform.check(hi, self.name)
        if self.fixed and self.value is None:
            raise ValueError(f"parameter {self.name!r} is fixed but has no value")


def as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=DTYPE)


class ParamSpace:
    """An ordered set of named parameters with packing to an unconstrained vector.

    >>> space = ParamSpace([Param("variance", positive, 1.0), Param("range", positive, 0.2)])
    >>> u = space.pack({"variance": 2.0, "range": 0.5})       # (2,) unconstrained
    >>> space.unpack(u)["range"]                                # natural tensor
    """

    def __init__(self, params: Iterable[Param]):
        self._params: dict[str, Param] = {}
        for p in params:
            if p.name in self._params:
                raise ValueError(f"duplicated parameter name {p.name!r}")
            self._params[p.name] = p

    # --- inspection -----------------------------------------------------------------
    def __getitem__(self, name: str) -> Param:
        try:
            return self._params[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}{did_you_mean(name, self.names)}; "
                           f"parameters are "
                           f"{self.names}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._params

    def __iter__(self):
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        rows = [
            f"  {p.name}: {p.transform!r}" + (f" fixed={p.value:g}" if p.fixed else "")
            for p in self
        ]
        return "ParamSpace(\n" + "\n".join(rows) + "\n)"

    @property
    def names(self) -> list[str]:
        return list(self._params)

    @property
    def free_names(self) -> list[str]:
        return [p.name for p in self if not p.fixed]

    @property
    def fixed_values(self) -> dict[str, float]:
        return {p.name: float(p.value) for p in self if p.fixed}

    # --- modification (returns new spaces) ------------------------------------------
    def fix(self, **values: float) -> ParamSpace:
        """A copy with the named parameters fixed at the given natural values."""
        out = []
        for name in values:
            self[name]  # raises a clear error for unknown names
        for p in self:
            if p.name in values:
                v = float(values[p.name])
                if p.locked and abs(v - float(p.value)) > 1e-12 * max(1.0, abs(v)):
                    raise ValueError(f"parameter {p.name!r} is set by the model at "
                                     f"{float(p.value):g} and cannot be fixed at {v:g}: "
                                     f"{p.doc}")
                p = replace(p, value=v, fixed=True)
            out.append(p)
        return ParamSpace(out)

    def with_values(self, **values: float) -> ParamSpace:
        """A copy with new default (starting) values."""
        for name in values:
            self[name]
        return ParamSpace(
            replace(p, value=float(values[p.name])) if p.name in values else p for p in self
        )

    def with_search(self, **boxes: tuple[float, float]) -> ParamSpace:
        """A copy with new natural-scale search boxes ``(lo, hi)``, replacing the model's; each
        must lie in its parameter's domain (``Param`` checks it)."""
        for name in boxes:
            self[name]
        return ParamSpace(
            replace(p, search=tuple(float(v) for v in boxes[p.name])) if p.name in boxes
            else p for p in self)

    def validate(self, values: Mapping[str, float]) -> None:
        """Raise KeyError for unknown names, ValueError for values outside a domain."""
        for name, v in values.items():
            self[name].transform.check(float(v), name)

    # --- packing ----------------------------------------------------------------------
    def pack(self, values: Mapping[str, float] | None = None) -> torch.Tensor:
        """Natural values of the free parameters -> unconstrained vector ``(k,)``."""
        values = dict(values or {})
        us = []
        for p in self:
            if p.fixed:
                continue
            v = values.get(p.name, p.value)
            if v is None:
                raise ValueError(f"no value for parameter {p.name!r}")
            p.transform.check(float(v), p.name)
            us.append(p.transform.inverse(as_tensor(float(v))))
        return torch.stack(us) if us else torch.zeros(0, dtype=DTYPE)

    def unpack(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unconstrained vector ``(k,)`` -> natural values of every parameter (fixed included)."""
        free = self.free_names
        if u.shape != (len(free),):
            raise ValueError(f"expected an unconstrained vector of shape ({len(free)},), "
                             f"got {tuple(u.shape)}")
        out: dict[str, torch.Tensor] = {}
        i = 0
        for p in self:
            if p.fixed:
                out[p.name] = as_tensor(float(p.value))
            else:
                out[p.name] = p.transform.forward(u[i])
                i += 1
        return out

    def natural(self, values: Mapping[str, float] | None = None) -> dict[str, torch.Tensor]:
        """Natural values as tensors: given values over defaults, fixed ones forced."""
        values = dict(values or {})
        self.validate(values)
        out = {}
        for p in self:
            v = p.value if p.fixed else values.get(p.name, p.value)
            if v is None:
                raise ValueError(f"no value for parameter {p.name!r}")
            out[p.name] = as_tensor(float(v))
        return out

    def complete(self, params: Mapping) -> dict[str, torch.Tensor]:
        """Given values as float64 tensors (gradients kept), fixed ones filled in; ValueError
        for a missing parameter or a value outside its domain. Names outside the space (mean
        coefficients, say) pass through unchecked."""
        out = {k: torch.as_tensor(v, dtype=DTYPE) for k, v in params.items()}
        for p in self:
            if p.fixed and p.name not in out:
                out[p.name] = as_tensor(float(p.value))
        missing = [n for n in self.names if n not in out]
        if missing:
            raise ValueError(f"missing parameter values: {missing}")
        self.validate({k: float(v.detach()) for k, v in out.items() if k in self})
        return out

    def search_bounds(self) -> list[tuple[float | None, float | None]]:
        """Unconstrained ``(lo, hi)`` per free parameter (None where unbounded)."""
        out = []
        for p in self:
            if p.fixed:
                continue
            if p.search is None:
                out.append((None, None))
            else:
                lo, hi = (float(p.transform.inverse(as_tensor(float(v)))) for v in p.search)
                out.append((lo, hi))
        return out

    def jacobian_diag(self, u: torch.Tensor) -> torch.Tensor:
        """dθ_i/du_i of the free parameters at ``u`` ``(k,)`` (the transforms are elementwise)."""
        u = u.detach().clone().requires_grad_(True)
        nat = self.unpack(u)
        theta = torch.stack([nat[n] for n in self.free_names]) if len(u) else u
        (g,) = torch.autograd.grad(theta.sum(), u) if len(u) else (u,)
        return g.detach()

    # --- priors -------------------------------------------------------------------------
    def log_prior(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sum of the free parameters' prior log densities on the natural scale."""
        lp = as_tensor(0.0)
        for p in self:
            if p.prior is not None and not p.fixed:
                lp = lp + p.prior.log_prob(as_tensor(values[p.name])).sum()
        return lp

    def sample_prior(self, n: int, seed=None) -> dict[str, np.ndarray]:
        """``n`` draws of every free parameter from its prior (one numpy Generator from
        ``seed``, parameters in order); fixed ones repeated."""
        rng = np.random.default_rng(seed)
        out = {}
        for p in self:
            if p.fixed:
                out[p.name] = np.full(n, float(p.value))
            elif p.prior is None:
                raise ValueError(f"parameter {p.name!r} has no prior to sample from")
            else:
                out[p.name] = np.asarray(p.prior.sample(n, rng), dtype=np.float64)
        return out

    def with_priors(self, **priors: Distribution) -> ParamSpace:
        """A copy with priors attached to the named parameters."""
        for name in priors:
            self[name]
        return ParamSpace(replace(p, prior=priors[p.name]) if p.name in priors else p
                          for p in self)


def parse_assignments(items: Iterable[str], option: str | None = None) -> dict[str, float]:
    """Parameter values from text: ``["a=1,b=2", "c=3"]`` -> ``{"a": 1.0, "b": 2.0, "c": 3.0}``
    (the command line's ``--fix`` and ``--params``; ``option``, e.g. ``"--fix"``, starts every
    message when given).

    ``ValueError`` naming the item for: a part without ``=``, an empty name, a value that is
    not a finite number (``nan``, ``inf``), and a name given twice (``a=1,a=2``), also across
    items.
    """
    out: dict[str, float] = {}
    at = f"{option}: " if option else ""
    for item in items or ():
        for part in (p.strip() for p in str(item).split(",")):
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"{at}expected name=value, got {part!r}")
            k, v = (t.strip() for t in part.split("=", 1))
            if not k:
                raise ValueError(f"{at}a parameter name is missing before '=' in {part!r}")
            try:
                x = float(v)
            except ValueError:
                raise ValueError(f"{at}the value of {k!r} is not a number: {v!r}") from None
            if not math.isfinite(x):
                raise ValueError(f"{at}the value of {k!r} must be a finite number, got "
                                 f"{v!r}")
            if k in out:
                raise ValueError(f"{at}parameter {k!r} is given twice ({k}={out[k]:g} and "
                                 f"{k}={x:g}); give each name once")
            out[k] = x
    return out


def parse_grid(text: str, option: str) -> tuple[int, int]:
    """``NXxNY`` (columns × rows: "16x8" is 16 points along x, 8 along y), each at least 1,
    with at least 2 points in all."""
    try:
        nx, ny = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"{option} is NXxNY (points along x × along y), e.g. 50x40; got "
                         f"{text!r}") from None
    if nx < 1 or ny < 1 or nx * ny < 2:
        raise ValueError(f"{option} {text}: need at least 1 point along each axis and 2 in "
                         "all")
    return nx, ny
