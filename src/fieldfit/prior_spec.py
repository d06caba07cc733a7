"""Priors from text: the one grammar of ``--prior`` (``fieldfit sample``) and of Python strings.

An item is ``NAME=FAMILY:ARG[:ARG...]``:

=======================  =========================================================
``pc:ρ₀:α``              on a range (a name with "range"): P(range < ρ₀) = α, the PC prior
                         :class:`~fieldfit.priors.PCRange` in the data's dimension d (d = 1
                         for ``time_range``); on a variance (``variance``, ``nugget`` or a
                         name ending in "variance"): P(σ > ρ₀) = α for σ = √variance,
                         :class:`~fieldfit.priors.PCVariance`
``pc-range:ρ₀:α``        the PC range prior on any parameter
``pc-variance:σ₀:α``     the PC variance prior on any parameter
``halfnormal:s``         ``|N(0, s²)|``
``normal:μ:σ``           N(μ, σ²)
``lognormal:μ:σ``        log θ ~ N(μ, σ²)
``gamma:k:λ``            shape k, rate λ
``exponential:λ``        rate λ
``invgamma:a:b``         shape a, scale b
``uniform:a:b``          on (a, b)
``loguniform:a:b``       log θ uniform on (log a, log b)
``a:b`` / ``a:b:log``    uniform / log-uniform on (a, b): the ``train-estimator --prior`` form
=======================  =========================================================

Examples: ``range=pc:0.1:0.5``, ``nugget=halfnormal:1``, ``smoothness=lognormal:0:1``.
Every error (unknown family, wrong number of arguments, a non-number, a scale that is not
positive, a probability outside (0, 1), a parameter the model does not have) is a ValueError
naming the item, raised before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .errors import did_you_mean
from .priors import (
    Bound,
    Distribution,
    Exponential,
    Gamma,
    HalfNormal,
    InverseGamma,
    LogNormal,
    Normal,
    PCRange,
    PCVariance,
)

#: family -> (argument names, builder(args, name, dim))
FAMILIES = {
    "pc": (("threshold", "probability"), None),
    "pc-range": (("rho0", "alpha"), lambda a, n, d: PCRange(a[0], a[1], d)),
    "pc-variance": (("sigma0", "alpha"), lambda a, n, d: PCVariance(a[0], a[1])),
    "halfnormal": (("scale",), lambda a, n, d: HalfNormal(a[0])),
    "normal": (("mean", "sd"), lambda a, n, d: Normal(a[0], a[1])),
    "lognormal": (("mean of log", "sd of log"), lambda a, n, d: LogNormal(a[0], a[1])),
    "gamma": (("shape", "rate"), lambda a, n, d: Gamma(a[0], a[1])),
    "exponential": (("rate",), lambda a, n, d: Exponential(a[0])),
    "invgamma": (("shape", "scale"), lambda a, n, d: InverseGamma(a[0], a[1])),
    "uniform": (("lower", "upper"), lambda a, n, d: Bound(a[0], a[1], "uniform")),
    "loguniform": (("lower", "upper"), lambda a, n, d: Bound(a[0], a[1], "loguniform")),
}

GRAMMAR = ("NAME=FAMILY:ARGS with FAMILY one of " + ", ".join(FAMILIES)
           + " (e.g. range=pc:0.1:0.5, nugget=halfnormal:1), or NAME=LO:HI[:log]")


def is_range(name: str) -> bool:
    """Whether a parameter name denotes a range (it contains "range").

    Parameters
    ----------
    name : str
        Parameter name.

    Returns
    -------
    bool
    """
    return "range" in name


def is_variance(name: str) -> bool:
    """Whether a parameter name denotes a variance (``variance``, ``nugget`` or ``*variance``).

    Parameters
    ----------
    name : str
        Parameter name.

    Returns
    -------
    bool
    """
    return name in ("variance", "nugget") or name.endswith("variance")


def _numbers(parts: list[str], item: str) -> list[float]:
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"--prior {item}: the arguments {':'.join(parts)!r} are not all "
                         "numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"--prior {item}: the arguments must be finite numbers")
    return values


def parse_prior(text: str, dim: int = 2) -> tuple[str, Distribution]:
    """Parse one ``NAME=FAMILY:ARGS`` prior (module docstring).

    Parameters
    ----------
    text : str
        The item.
    dim : int, default 2
        Spatial dimension d of a PC range prior (``time_*`` ranges take d = 1).

    Returns
    -------
    name : str
        The parameter name.
    prior : fieldfit.priors.Distribution
        The prior.

    Raises
    ------
    ValueError
        Naming the item, for a missing ``=`` or name, an unknown family, a wrong number of
        arguments, a non-number, a scale that is not positive, a probability outside (0, 1),
        or ``pc`` on a parameter that is neither a range nor a variance.
    """
    item = str(text).strip()
    if "=" not in item:
        raise ValueError(f"--prior {item!r}: expected {GRAMMAR}")
    name, spec = (s.strip() for s in item.split("=", 1))
    if not name:
        raise ValueError(f"--prior {item!r}: a parameter name is missing before '='")
    family, *args = (s.strip() for s in spec.split(":"))
    family = family.lower()
    d = 1 if name.startswith("time_") else int(dim)
    try:
        if family not in FAMILIES:
            try:
                float(family)
            except ValueError:
                raise ValueError(f"unknown prior family {family!r}"
                                 f"{did_you_mean(family, FAMILIES)}; expected {GRAMMAR}") from None
            return name, _bound(spec, item)
        want, build = FAMILIES[family]
        if len(args) != len(want):
            raise ValueError(f"the {family} prior takes {len(want)} argument(s) "
                             f"({', '.join(want)}), got {len(args)}")
        a = _numbers(args, item)
        if family == "pc":
            if is_range(name):
                return name, PCRange(a[0], a[1], d)
            if is_variance(name):
                return name, PCVariance(a[0], a[1])
            raise ValueError(f"pc is a prior for a range or a variance, not {name!r}; use "
                             "pc-range or pc-variance to force one, or another family")
        return name, build(a, name, d)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith("--prior") else f"--prior {item}: {msg}") from None


def _bound(spec: str, item: str) -> Bound:
    """``LO:HI`` or ``LO:HI:log`` (``LO:HI:uniform``): the train-estimator form."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "uniform")):
        raise ValueError(f"a bounded prior is LO:HI[:log], got {spec!r}")
    lo, hi = _numbers(parts[:2], item)
    return Bound(lo, hi, "loguniform" if parts[-1] == "log" else "uniform")


def parse_priors(items: Iterable[str] | None, names: Iterable[str] | None = None,
                 dim: int = 2) -> dict[str, Distribution]:
    """``{name: prior}`` from ``--prior`` items.

    Parameters
    ----------
    items : iterable of str or None
        ``NAME=FAMILY:ARGS`` items.
    names : iterable of str or None, optional
        The model's parameters; an unknown name is then refused.
    dim : int, default 2
        Spatial dimension of PC range priors.

    Returns
    -------
    dict of str to fieldfit.priors.Distribution

    Raises
    ------
    ValueError
        For an item :func:`parse_prior` rejects, an unknown name (naming the closest one and
        every name), or a name given twice.
    """
    out: dict[str, Distribution] = {}
    names = list(names) if names is not None else None
    for text in items or ():
        name = str(text).split("=", 1)[0].strip() if "=" in str(text) else None
        if names is not None and name and name not in names:  # the name first
            raise ValueError(f"--prior {text}: unknown parameter {name!r}"
                             f"{did_you_mean(name, names)}; the parameters are "
                             f"{', '.join(names)}")
        name, prior = parse_prior(text, dim)
        if name in out:
            raise ValueError(f"--prior: parameter {name!r} is given two priors; give one")
        out[name] = prior
    return out


__all__ = ["FAMILIES", "GRAMMAR", "parse_prior", "parse_priors"]
