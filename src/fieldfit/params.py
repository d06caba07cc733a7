"""Named parameters, their transforms to an unconstrained vector, priors, packing.

A model's parameters live in a :class:`ParamSpace`: an ordered set of :class:`Param`, each with
a transform from the unconstrained real line to its natural domain::

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
    r"""Bijection from the real line ``u`` to a parameter's natural domain ``θ`` (identity here).

    It has :meth:`forward`, :meth:`inverse` and :meth:`log_abs_det_jacobian`
    (:math:`\log|d\theta/du|`, what MCMC adds to the log density on the u scale); subclasses
    change the domain. The base class takes no constructor arguments.
    """

    name = "real"

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Map unconstrained ``u`` to the natural value θ (identity here).

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Natural values θ, the shape of ``u``.
        """
        return u

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Map a natural value θ to the unconstrained ``u`` (identity here).

        Parameters
        ----------
        x : torch.Tensor
            Natural values inside the domain, any shape.

        Returns
        -------
        torch.Tensor
            Unconstrained values u, the shape of ``x``.
        """
        return x

    def log_abs_det_jacobian(self, u: torch.Tensor) -> torch.Tensor:
        r"""Elementwise :math:`\log|d\theta/du|` at ``u``, differentiable in ``u``.

        It is 0 for the identity; a subclass overrides it with :meth:`forward` and :meth:`inverse`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Log Jacobians, the shape of ``u``.
        """
        return torch.zeros_like(u)

    def check(self, x: float, pname: str) -> None:
        """Check that a natural value lies in the domain: finite.

        Parameters
        ----------
        x : float
            Natural value.
        pname : str
            Parameter name, used in the error message.

        Raises
        ------
        ValueError
            If ``x`` is not finite.
        """
        if not math.isfinite(x):
            raise ValueError(f"parameter {pname!r} must be finite, got {x}")

    def __repr__(self) -> str:
        return self.name


class Positive(Transform):
    r"""Transform :math:`\theta = \exp(u)` onto (0, ∞); takes no constructor arguments."""

    name = "positive"

    def forward(self, u):
        r""":math:`\theta = e^u`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Natural values θ, the shape of ``u``.
        """
        return torch.exp(u)

    def inverse(self, x):
        r""":math:`u = \log\theta`.

        Parameters
        ----------
        x : torch.Tensor
            Natural values inside the domain, any shape.

        Returns
        -------
        torch.Tensor
            Unconstrained values u, the shape of ``x``.
        """
        return torch.log(x)

    def log_abs_det_jacobian(self, u):
        r""":math:`\log|d\theta/du| = u`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Elementwise :math:`\log|d\theta/du|`, the shape of ``u``; differentiable in ``u``.
        """
        return u  # dθ/du = e^u

    def check(self, x, pname):
        """Check that a natural value lies in the domain: positive.

        Parameters
        ----------
        x : float
            Natural value.
        pname : str
            Parameter name, used in the error message.

        Raises
        ------
        ValueError
            If ``x`` is not finite or not positive.
        """
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
    r"""Transform :math:`\theta = a + (b - a)\,\mathrm{sigmoid}(u)` onto the open interval (a, b).

    Parameters
    ----------
    lower, upper : float
        Bounds a < b.

    Raises
    ------
    ValueError
        If ``lower >= upper``.
    """

    def __init__(self, lower: float, upper: float):
        if not lower < upper:
            raise ValueError(f"interval needs lower < upper, got ({lower}, {upper})")
        self.lower, self.upper = float(lower), float(upper)
        self.name = f"interval({self.lower:g}, {self.upper:g})"

    def forward(self, u):
        r""":math:`\theta = a + (b - a)\,\sigma(u)`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Natural values θ, the shape of ``u``.
        """
        return self.lower + (self.upper - self.lower) * torch.sigmoid(u)

    def inverse(self, x):
        r""":math:`u = \mathrm{logit}((\theta - a)/(b - a))`.

        Parameters
        ----------
        x : torch.Tensor
            Natural values inside the domain, any shape.

        Returns
        -------
        torch.Tensor
            Unconstrained values u, the shape of ``x``.
        """
        p = (x - self.lower) / (self.upper - self.lower)
        return torch.log(p) - torch.log1p(-p)

    def log_abs_det_jacobian(self, u):
        r""":math:`\log|d\theta/du| = \log(b - a) + \log\sigma(u) + \log\sigma(-u)`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Elementwise :math:`\log|d\theta/du|`, the shape of ``u``; differentiable in ``u``.
        """
        F = torch.nn.functional  # dθ/du = (b − a) σ(u) σ(−u)
        return math.log(self.upper - self.lower) + F.logsigmoid(u) + F.logsigmoid(-u)


class LogInterval(_Box):
    r"""Transform :math:`\theta = a\,(b/a)^{\mathrm{sigmoid}(u)}` onto (a, b), 0 < a.

    :math:`\log\theta` is linear in :math:`\mathrm{sigmoid}(u)`: the natural transform of a
    log-uniform prior.

    Parameters
    ----------
    lower, upper : float
        Bounds 0 < a < b.

    Raises
    ------
    ValueError
        Unless ``0 < lower < upper``.
    """

    def __init__(self, lower: float, upper: float):
        if not 0 < lower < upper:
            raise ValueError(f"log-interval needs 0 < lower < upper, got ({lower}, {upper})")
        self.lower, self.upper = float(lower), float(upper)
        self._log_lo, self._width = math.log(self.lower), math.log(self.upper / self.lower)
        self.name = f"log-interval({self.lower:g}, {self.upper:g})"

    def forward(self, u):
        r""":math:`\theta = \exp(\log a + w\,\sigma(u))`, :math:`w = \log(b/a)`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Natural values θ, the shape of ``u``.
        """
        return torch.exp(self._log_lo + self._width * torch.sigmoid(u))

    def inverse(self, x):
        r""":math:`u = \mathrm{logit}((\log\theta - \log a)/w)`.

        Parameters
        ----------
        x : torch.Tensor
            Natural values inside the domain, any shape.

        Returns
        -------
        torch.Tensor
            Unconstrained values u, the shape of ``x``.
        """
        p = (torch.log(x) - self._log_lo) / self._width
        return torch.log(p) - torch.log1p(-p)

    def log_abs_det_jacobian(self, u):
        r""":math:`\log|d\theta/du| = \log\theta + \log w + \log\sigma(u) + \log\sigma(-u)`.

        Parameters
        ----------
        u : torch.Tensor
            Unconstrained values, any shape.

        Returns
        -------
        torch.Tensor
            Elementwise :math:`\log|d\theta/du|`, the shape of ``u``; differentiable in ``u``.
        """
        F = torch.nn.functional  # dθ/du = θ w σ(u) σ(−u), w = log(b / a)
        return (self._log_lo + self._width * torch.sigmoid(u) + math.log(self._width)
                + F.logsigmoid(u) + F.logsigmoid(-u))


positive = Positive()
real = Transform()


def interval(lower: float, upper: float) -> Interval:
    """Build an :class:`Interval` transform onto (lower, upper).

    Parameters
    ----------
    lower, upper : float
        Bounds, ``lower < upper``.

    Returns
    -------
    Interval
        The transform.

    Raises
    ------
    ValueError
        If ``lower >= upper``.
    """
    return Interval(lower, upper)


@dataclass(frozen=True)
class Param:
    """One named parameter: its transform, a default value, whether it is fixed, a prior.

    Parameters
    ----------
    name : str
        Parameter name.
    transform : Transform, default identity
        Map from the unconstrained line to the natural domain (``positive``, ``interval(a, b)``,
        ...).
    value : float or None, optional
        Default (starting) value on the natural scale.
    fixed : bool, default False
        Whether the parameter is held at ``value``.
    prior : fieldfit.priors.Distribution or None, optional
        Prior on the natural scale: the one prior type of penalised likelihoods
        (``fit(..., priors=...)``), MCMC and the neural priors (:class:`fieldfit.priors.Bound`).
    doc : str, optional
        Description shown to users.
    search : tuple of float or None, optional
        Natural-scale box ``(lo, hi)`` inside the domain that optimisers stay in, for
        directions where the likelihood flattens out (Matérn ν → ∞ tends to the Gaussian
        covariance); an estimate on its edge is reported as such.
    locked : bool, default False
        Set by the model's structure (the SPDE's ν = α − d/2): ``fix`` may restate the value
        but not change it; ``doc`` says which values the model can take.

    Raises
    ------
    TypeError
        If ``prior`` is not a :class:`fieldfit.priors.Distribution`.
    ValueError
        If ``value`` or the ``search`` bounds lie outside the domain, ``search`` has
        ``lo >= hi``, or a fixed parameter has no value.
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
    """Convert to a float64 tensor.

    Parameters
    ----------
    x : float or array_like or torch.Tensor
        Value(s).

    Returns
    -------
    torch.Tensor
        float64 tensor (shared storage where possible).
    """
    return torch.as_tensor(x, dtype=DTYPE)


class ParamSpace:
    """An ordered set of named parameters with packing to an unconstrained vector.

    Parameters
    ----------
    params : iterable of Param
        The parameters, in order; names must be unique.

    Raises
    ------
    ValueError
        If a name appears twice.

    Examples
    --------
    >>> space = ParamSpace([Param("variance", positive, 1.0), Param("range", positive, 0.2)])
    >>> u = space.pack({"variance": 2.0, "range": 0.5})       # (2,) unconstrained
    >>> space.unpack(u)["range"]                                # natural tensor
    tensor(0.5000, dtype=torch.float64)
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
        """Names of all parameters, in order.

        Returns
        -------
        list of str
        """
        return list(self._params)

    @property
    def free_names(self) -> list[str]:
        """Names of the parameters that are not fixed, in order (the entries of ``u``).

        Returns
        -------
        list of str
        """
        return [p.name for p in self if not p.fixed]

    @property
    def fixed_values(self) -> dict[str, float]:
        """Natural values of the fixed parameters.

        Returns
        -------
        dict of str to float
        """
        return {p.name: float(p.value) for p in self if p.fixed}

    # --- modification (returns new spaces) ------------------------------------------
    def fix(self, **values: float) -> ParamSpace:
        """A copy with the named parameters fixed at the given natural values.

        Parameters
        ----------
        **values : float
            ``name=value`` for each parameter to fix.

        Returns
        -------
        ParamSpace
            The new space.

        Raises
        ------
        KeyError
            For an unknown name.
        ValueError
            If a value is outside its domain, or a locked parameter would change value.
        """
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
        """A copy with new default (starting) values.

        Parameters
        ----------
        **values : float
            ``name=value`` natural values.

        Returns
        -------
        ParamSpace
            The new space.

        Raises
        ------
        KeyError
            For an unknown name.
        ValueError
            If a value is outside its domain.
        """
        for name in values:
            self[name]
        return ParamSpace(
            replace(p, value=float(values[p.name])) if p.name in values else p for p in self
        )

    def with_search(self, **boxes: tuple[float, float]) -> ParamSpace:
        """A copy with new natural-scale search boxes ``(lo, hi)``, replacing the model's.

        Parameters
        ----------
        **boxes : tuple of float
            ``name=(lo, hi)``; each box must lie in its parameter's domain (``Param`` checks it).

        Returns
        -------
        ParamSpace
            The new space.

        Raises
        ------
        KeyError
            For an unknown name.
        ValueError
            If a box has ``lo >= hi`` or leaves the domain.
        """
        for name in boxes:
            self[name]
        return ParamSpace(
            replace(p, search=tuple(float(v) for v in boxes[p.name])) if p.name in boxes
            else p for p in self)

    def validate(self, values: Mapping[str, float]) -> None:
        """Check natural values against the parameters' domains.

        Parameters
        ----------
        values : Mapping of str to float
            Natural values by name.

        Raises
        ------
        KeyError
            For an unknown name.
        ValueError
            For a value outside its parameter's domain.
        """
        for name, v in values.items():
            self[name].transform.check(float(v), name)

    # --- packing ----------------------------------------------------------------------
    def pack(self, values: Mapping[str, float] | None = None) -> torch.Tensor:
        """Natural values of the free parameters to the unconstrained vector.

        Parameters
        ----------
        values : Mapping of str to float, optional
            Natural values by name; missing ones take the parameters' defaults.

        Returns
        -------
        torch.Tensor
            ``(k,)`` unconstrained vector, k the number of free parameters.

        Raises
        ------
        ValueError
            If a free parameter has no value, or a value is outside its domain.
        """
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
        """Unconstrained vector to the natural values of every parameter (fixed included).

        Parameters
        ----------
        u : torch.Tensor
            ``(k,)`` unconstrained vector of the free parameters; gradients flow through.

        Returns
        -------
        dict of str to torch.Tensor
            Natural values (0-d tensors), in the space's order.

        Raises
        ------
        ValueError
            If ``u`` is not of shape ``(k,)``.
        """
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
        """Natural values as tensors: given values over defaults, fixed ones forced.

        Parameters
        ----------
        values : Mapping of str to float, optional
            Natural values by name.

        Returns
        -------
        dict of str to torch.Tensor
            0-d float64 tensors for every parameter.

        Raises
        ------
        KeyError
            For an unknown name.
        ValueError
            For a value outside its domain, or a parameter with no value.
        """
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
        """Given values as float64 tensors (gradients kept), with fixed ones filled in.

        Names outside the space (mean coefficients, say) pass through unchecked.

        Parameters
        ----------
        params : Mapping
            Values by name (floats or tensors).

        Returns
        -------
        dict of str to torch.Tensor
            The given values plus the fixed parameters that were missing.

        Raises
        ------
        ValueError
            For a missing parameter or a value outside its domain.
        """
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
        """Unconstrained search bounds of each free parameter.

        Returns
        -------
        list of tuple
            ``(lo, hi)`` per free parameter on the unconstrained scale; ``(None, None)`` where the
            parameter has no search box.
        """
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
        r"""Derivatives :math:`d\theta_i/du_i` of the free parameters at ``u``.

        The transforms are elementwise, so this is the diagonal of the Jacobian.

        Parameters
        ----------
        u : torch.Tensor
            ``(k,)`` unconstrained vector.

        Returns
        -------
        torch.Tensor
            ``(k,)`` derivatives (detached).
        """
        u = u.detach().clone().requires_grad_(True)
        nat = self.unpack(u)
        theta = torch.stack([nat[n] for n in self.free_names]) if len(u) else u
        (g,) = torch.autograd.grad(theta.sum(), u) if len(u) else (u,)
        return g.detach()

    # --- priors -------------------------------------------------------------------------
    def log_prior(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sum of the free parameters' prior log densities on the natural scale.

        Parameters with no prior, and fixed ones, contribute nothing.

        Parameters
        ----------
        values : Mapping of str to torch.Tensor
            Natural values by name (differentiable).

        Returns
        -------
        torch.Tensor
            0-d log prior density.
        """
        lp = as_tensor(0.0)
        for p in self:
            if p.prior is not None and not p.fixed:
                lp = lp + p.prior.log_prob(as_tensor(values[p.name])).sum()
        return lp

    def sample_prior(self, n: int, seed=None) -> dict[str, np.ndarray]:
        """``n`` draws of every free parameter from its prior; fixed ones repeated.

        One numpy Generator is made from ``seed`` and the parameters draw from it in order.

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int or numpy.random.Generator or None, optional
            Seed of the draws.

        Returns
        -------
        dict of str to numpy.ndarray
            ``(n,)`` natural values per parameter.

        Raises
        ------
        ValueError
            If a free parameter has no prior.
        """
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
        """A copy with priors attached to the named parameters.

        Parameters
        ----------
        **priors : fieldfit.priors.Distribution
            ``name=prior`` on the natural scale.

        Returns
        -------
        ParamSpace
            The new space.

        Raises
        ------
        KeyError
            For an unknown name.
        TypeError
            If a prior is not a :class:`fieldfit.priors.Distribution`.
        """
        for name in priors:
            self[name]
        return ParamSpace(replace(p, prior=priors[p.name]) if p.name in priors else p
                          for p in self)


def parse_assignments(items: Iterable[str], option: str | None = None) -> dict[str, float]:
    """Parameter values from text: ``["a=1,b=2", "c=3"]`` gives ``{"a": 1.0, "b": 2.0, "c": 3.0}``.

    This parses the command line's ``--fix`` and ``--params``.

    Parameters
    ----------
    items : iterable of str
        Comma-separated ``name=value`` items; empty parts are skipped.
    option : str or None, optional
        Option name, e.g. ``"--fix"``, that starts every error message when given.

    Returns
    -------
    dict of str to float
        The values by name.

    Raises
    ------
    ValueError
        Naming the item, for: a part without ``=``, an empty name, a value that is not a
        finite number (``nan``, ``inf``), and a name given twice (``a=1,a=2``), also across
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
    """Parse a grid size ``NXxNY`` (columns × rows: ``"16x8"`` is 16 points along x, 8 along y).

    Parameters
    ----------
    text : str
        The text, e.g. ``"50x40"`` (case-insensitive ``x``).
    option : str
        Option name used in error messages.

    Returns
    -------
    tuple of int
        ``(nx, ny)``.

    Raises
    ------
    ValueError
        If the text is not two integers separated by ``x``, an axis has fewer than 1 point, or
        there are fewer than 2 points in all.
    """
    try:
        nx, ny = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"{option} is NXxNY (points along x × along y), e.g. 50x40; got "
                         f"{text!r}") from None
    if nx < 1 or ny < 1 or nx * ny < 2:
        raise ValueError(f"{option} {text}: need at least 1 point along each axis and 2 in "
                         "all")
    return nx, ny
