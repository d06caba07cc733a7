"""The ``--field NAME=KIND:ARGS`` grammar: nonstationary parameters of the SPDE models.

One parser for every SPDE model, each with its own names (:data:`ADVECTION_DIFFUSION_FIELDS`,
:data:`MATERN_SPDE_FIELDS`). A spec is ``NAME=KIND:ARGS[:OPTION=VALUE ...]``; the kinds are
``bspline`` (a tensor B-spline with a roughness prior), ``rbf`` (Gaussian radial basis
functions with a ridge prior) and ``covariates`` (data columns).

The advection–diffusion model:

``gamma=bspline:4x4``
    γ_x(s) and γ_y(s), each a tensor cubic B-spline field with 4 × 4 basis functions over
    the mesh's bounding box (identity link; quadratic along a dimension given 3 functions;
    at least 3)
``gamma=bspline:4x4x3``
    the same in space-time: 3 basis functions over the time grid (then the time-stepping
    matrix changes with the step)
``H=bspline:3x3``
    H_scale(s) = exp(w₀ + Σ a_k B_k(s)) multiplying H per mesh cell (w₀ fixed at 1, the
    identifiability of κ, c and H)
``kappa=bspline:4x4``
    κ(s) = exp(w₀ + Σ a_k B_k(s)) at the mesh nodes
``kappa=covariates:elev,slope``
    log κ(s) = w₀ + Σ_j w_j z̃_j(s), z̃_j the data columns standardised; at the mesh nodes by
    linear interpolation on the Delaunay triangulation of the observed locations (nearest
    observed location outside their hull)

The Matérn SPDE (``--model matern --engine spde``), whose κ, τ and anisotropy may vary:

``kappa=bspline:6x6``, ``tau=bspline:4x4``
    κ(s) or τ(s) = exp(w₀ + Σ a_k B_k(s)) at the mesh nodes (they replace ``range`` and
    ``variance``: w₀ is κ or τ where the weights are 0)
``kappa=rbf:25``, ``tau=rbf:5x5``
    the same with Gaussian radial basis functions on a 5 × 5 grid of centres over the mesh's
    bounding box (scale: the grid spacing; ``rbf:N`` needs a square N), each weight with a
    ``Normal(0, sd)`` prior
``kappa=covariates:elev``
    log κ(s) linear in data columns, as above
``anisotropy=bspline:4x4`` (or ``rbf:…``)
    the angle θ(s) (identity link) and the ratio λ(s) (exp link) of
    H(s) = R(θ) diag(1, λ²) R(θ)ᵀ per mesh cell, each such a field (Fuglstad et al. 2015)

Options: ``sd=S`` (B-splines and radial bases) the prior's scale (below).

**Weights and the roughness penalty.** Every weight is an ordinary model parameter, fitted
with the others by L-BFGS on autograd gradients. The B-spline fields are P-splines
(:class:`~fieldfit.spde.fields.PSplineField`; Eilers & Marx 1996): their coefficients a have
the second-difference Gaussian prior p(a) ∝ exp(−aᵀPa / (2 sd²)), i.e. every second difference
of neighbouring coefficients along an axis is N(0, sd²) on the field's link scale (log κ, log
H_scale; γ in the data's units of γ, which are those of c × velocity). The strength is set by
``sd``, not estimated: default 1 (a log-field may change curvature by a factor e per knot
interval; for γ, one unit of γ per knot interval), ``:sd=`` to change it (smaller is
smoother). The weights are written in the penalty's eigenbasis, so the prior is a product of
independent ``Normal(0, sd/√e_j)`` priors attached to the weights' ``Param`` objects and the fit
maximises the penalised likelihood ℓ(θ) + log p(a) through the same ``priors`` mechanism as
``fit(..., priors=...)``. The penalty's null space, the multilinear trend, gets a proper
prior on the same scale (a slope of sd per knot interval costs what a second difference of
sd does): left free, it can run away in the corners of the mesh's box, outside the data.
The radial bases' weights get independent ``Normal(0, sd)`` priors (a ridge; default sd 1 on
the link scale). Covariate weights have no prior.

**Maps.** The reported weights ``gamma_x_w{k}``, ``H_scale_w{k}`` are eigen-coefficients
(the first 2^d − 1 the free trend, then by increasing roughness); the B-spline coefficients
are ``PSplineField.coefficients(params)`` = U w, and the field itself ``field(x, params)``.

**Covariates.** In Python a covariate field reads the ``Observations``' covariates by name
(``covariates=[...]``); with ``mean="covariates"`` they enter the mean as well. The command
line loads the ``--field`` columns itself and refuses them with ``--mean covariates`` unless
they are in ``--covariates`` too. A covariate must be constant in time at each location.

The specs travel with the model as text (``model.to_spec()["fields"]``: ``{"gamma":
"bspline:4x4"}``) and :func:`parse_field_specs` reads them back.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .fields import CovariateField, Field, PSplineField, RadialBasisField

#: the fields of the advection–diffusion model and the kinds each takes
ADVECTION_DIFFUSION_FIELDS: dict[str, tuple[str, ...]] = {
    "gamma": ("bspline",),
    "H": ("bspline",),
    "kappa": ("bspline", "covariates"),
}
#: the fields of the Matérn SPDE and the kinds each takes
MATERN_SPDE_FIELDS: dict[str, tuple[str, ...]] = {
    "kappa": ("bspline", "rbf", "covariates"),
    "tau": ("bspline", "rbf", "covariates"),
    "anisotropy": ("bspline", "rbf"),
}
#: every kind of the grammar
KINDS = ("bspline", "rbf", "covariates")
#: the number of time dimensions a B-spline field may have per name (gamma: space-time)
_SPACE_TIME = {"gamma"}
#: the smallest number of B-spline basis functions per dimension (3: quadratic; 4 or more:
#: cubic)
MIN_BASIS = 3
OPTION = "--field"
EXAMPLE = "e.g. --field gamma=bspline:4x4"


def _did_you_mean(word: str, choices) -> str:
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.5)
    return f" (did you mean {lowered[match[0]]!r}?)" if match else ""


@dataclass(frozen=True)
class FieldSpec:
    """One parsed ``--field`` spec.

    Parameters
    ----------
    name : str
        Field name as the model spells it (``gamma``, ``H``, ``kappa``).
    kind : {"bspline", "rbf", "covariates"}
        Kind of field.
    shape : tuple of int, optional
        B-spline basis functions (or radial basis centres) per dimension (two, or three for
        a space-time B-spline).
    columns : tuple of str, optional
        Covariate columns.
    sd : float, default 1.0
        Scale of the B-splines' roughness prior, or of the radial bases' weights' prior.
    """

    name: str
    kind: str
    shape: tuple[int, ...] = ()
    columns: tuple[str, ...] = ()
    sd: float = 1.0

    @property
    def space_time(self) -> bool:
        """Whether the spec is a space-time B-spline (three sizes).

        Returns
        -------
        bool
        """
        return self.kind == "bspline" and len(self.shape) == 3

    @property
    def value(self) -> str:
        """The text after ``NAME=``, e.g. ``bspline:4x4`` or ``covariates:elev``.

        ``:sd=…`` is appended when sd is not the default.

        Returns
        -------
        str
        """
        if self.kind in ("bspline", "rbf"):
            text = f"{self.kind}:" + "x".join(str(k) for k in self.shape)
            return text + (f":sd={self.sd:g}" if self.sd != 1.0 else "")
        return "covariates:" + ",".join(self.columns)

    @property
    def text(self) -> str:
        """The spec as ``--field`` takes it, e.g. ``gamma=bspline:4x4``.

        Returns
        -------
        str
        """
        return f"{self.name}={self.value}"

    def __str__(self):
        return self.text

    def build(self, target: str, bounds, link: str, value: float) -> Field:
        """The :class:`~fieldfit.spde.fields.Field` this spec describes.

        A :class:`~fieldfit.spde.fields.PSplineField` over ``bounds``, a
        :class:`~fieldfit.spde.fields.RadialBasisField` on a grid of centres over them, or a
        :class:`~fieldfit.spde.fields.CovariateField` (its data attached later).

        Parameters
        ----------
        target : str
            Name of the field's parameter (``gamma_x``, ``H_scale``, ``kappa``, …).
        bounds : array_like
            ``(lo, hi)`` per dimension, time last for a space-time spec.
        link : {"exp", "identity"}
            Link of the field.
        value : float
            Starting value of the intercept.

        Returns
        -------
        fieldfit.spde.fields.Field
        """
        if self.kind == "bspline":
            return PSplineField(target, bounds, self.shape, value=value, link=link, sd=self.sd)
        if self.kind == "rbf":
            return RadialBasisField.grid(target, np.asarray(bounds, dtype=np.float64).ravel(),
                                         self.shape, value=value, link=link, sd=self.sd)
        return CovariateField(target, self.columns, value=value, link=link)


def _parse_centres(text: str, item: str) -> tuple[int, int]:
    """``rbf:N`` (N a square) or ``rbf:KxL``: the grid of centres."""
    parts = text.lower().split("x")
    if not all(re.fullmatch(r"\d+", p) for p in parts) or len(parts) not in (1, 2):
        raise ValueError(f"{OPTION} {item}: the radial basis size is a number of centres N "
                         f"(a square, N = k²) or a grid KxL, e.g. rbf:25 or rbf:5x5, got "
                         f"{text!r}")
    if len(parts) == 1:
        n = int(parts[0])
        k = math.isqrt(n)
        if k * k != n:
            raise ValueError(f"{OPTION} {item}: rbf:{n} is not a square grid of centres; "
                             f"give a square (rbf:{k * k} or rbf:{(k + 1) ** 2}) or KxL")
        shape = (k, k)
    else:
        shape = (int(parts[0]), int(parts[1]))
    if any(k < 2 for k in shape):
        raise ValueError(f"{OPTION} {item}: at least 2 centres per axis, got {text}")
    if math.prod(shape) > 4096:
        raise ValueError(f"{OPTION} {item}: {math.prod(shape)} centres is too many (at most "
                         "4096)")
    return shape


def _parse_shape(text: str, item: str, name: str) -> tuple[int, ...]:
    parts = text.lower().split("x")
    if not all(re.fullmatch(r"\d+", p) for p in parts) or not 2 <= len(parts) <= 3:
        raise ValueError(f"{OPTION} {item}: the B-spline size must be two or three whole "
                         f"numbers joined by x (basis functions in x, y[, t]), e.g. "
                         f"bspline:4x4 or bspline:4x4x3, got {text!r}")
    shape = tuple(int(p) for p in parts)
    if len(shape) == 3 and name not in _SPACE_TIME:
        raise ValueError(f"{OPTION} {item}: the field {name} is spatial: give two sizes "
                         f"(e.g. {name}=bspline:4x4); only gamma may vary in time (4x4x3)")
    if any(k < MIN_BASIS for k in shape):
        raise ValueError(f"{OPTION} {item}: each size must be at least {MIN_BASIS} (a "
                         f"second-difference roughness penalty needs 3 coefficients), got "
                         f"{text}")
    if math.prod(shape) > 4096:
        raise ValueError(f"{OPTION} {item}: {math.prod(shape)} basis functions is too many "
                         "(at most 4096)")
    return shape


def parse_field_spec(item: str, allowed: Mapping[str, Iterable[str]] | None = None,
                     model: str = "advection-diffusion") -> FieldSpec:
    """Parse one ``NAME=KIND:ARGS[:OPTION=VALUE]`` spec (see the module docstring).

    Parameters
    ----------
    item : str
        The spec text.
    allowed : Mapping of str to iterable of str, optional
        The model's field names and the kinds each takes (default
        ``ADVECTION_DIFFUSION_FIELDS``).
    model : str, default "advection-diffusion"
        Model name, for the messages.

    Returns
    -------
    FieldSpec

    Raises
    ------
    ValueError
        Naming ``--field`` and the problem: no ``=``, an unknown field or kind (with a
        suggestion), a kind the field does not take, missing arguments, a bad size, option or
        ``sd``, or empty or repeated covariate columns.
    """
    allowed = {k: tuple(v) for k, v in (allowed or ADVECTION_DIFFUSION_FIELDS).items()}
    raw = str(item).strip()
    if "=" not in raw:
        raise ValueError(f"{OPTION} {raw!r}: write NAME=KIND:ARGS, {EXAMPLE}")
    name, _, rest = (s.strip() for s in raw.partition("="))
    canon = {k.lower(): k for k in allowed}
    if name.lower() not in canon:
        raise ValueError(f"{OPTION} {raw}: model {model!r} has no field {name!r}"
                         f"{_did_you_mean(name, allowed)}; choose one of "
                         f"{', '.join(allowed)}")
    name = canon[name.lower()]
    kind, _, args = (s.strip() for s in rest.partition(":"))
    kind_l = kind.lower()
    if kind_l not in KINDS:
        raise ValueError(f"{OPTION} {raw}: unknown kind {kind!r}{_did_you_mean(kind, KINDS)}; "
                         f"the field {name} takes {' or '.join(allowed[name])}")
    if kind_l not in allowed[name]:
        raise ValueError(f"{OPTION} {raw}: the field {name} takes "
                         f"{' or '.join(allowed[name])}, not {kind_l}")
    if not args:
        hint = {"bspline": f"{name}=bspline:4x4", "rbf": f"{name}=rbf:25"}.get(
            kind_l, f"{name}=covariates:elev")
        raise ValueError(f"{OPTION} {raw}: {kind_l} needs its arguments, e.g. {hint}")
    if kind_l == "covariates":
        if ":" in args:
            raise ValueError(f"{OPTION} {raw}: covariates take no options, only column names "
                             "joined by commas (covariates:elev,slope)")
        cols = tuple(c.strip() for c in args.split(","))
        if any(not c for c in cols):
            raise ValueError(f"{OPTION} {raw}: an empty column name; write covariates:COL or "
                             "covariates:COL1,COL2")
        if len(set(cols)) != len(cols):
            raise ValueError(f"{OPTION} {raw}: a column is named twice")
        return FieldSpec(name, "covariates", columns=cols)
    size, *opts = (s.strip() for s in args.split(":"))
    shape = (_parse_centres(size, raw) if kind_l == "rbf" else _parse_shape(size, raw, name))
    sd = 1.0
    for opt in opts:
        key, eq, val = (s.strip() for s in opt.partition("="))
        if key.lower() != "sd" or not eq:
            raise ValueError(f"{OPTION} {raw}: unknown option {opt!r}; {kind_l} takes sd=S "
                             f"(the prior's scale), e.g. {kind_l}:"
                             f"{'4x4' if kind_l == 'bspline' else '25'}:sd=0.5")
        try:
            sd = float(val)
        except ValueError:
            sd = math.nan
        if not (math.isfinite(sd) and sd > 0):
            raise ValueError(f"{OPTION} {raw}: sd must be a positive number, got {val!r}")
    return FieldSpec(name, kind_l, shape=shape, sd=sd)


def parse_field_specs(items, allowed: Mapping[str, Iterable[str]] | None = None,
                      model: str = "advection-diffusion") -> dict[str, FieldSpec]:
    """``--field`` values (repeatable) to ``{name: FieldSpec}``.

    Parameters
    ----------
    items : str, list of str, Mapping or None
        ``NAME=KIND:ARGS`` texts (or :class:`FieldSpec` objects), or a mapping
        ``{name: FieldSpec | "KIND:ARGS"}`` (a model's ``to_spec()``); None or empty gives ``{}``.
    allowed : Mapping of str to iterable of str, optional
        The model's field names and the kinds each takes (default
        ``ADVECTION_DIFFUSION_FIELDS``).
    model : str, default "advection-diffusion"
        Model name, for the messages.

    Returns
    -------
    dict of str to FieldSpec

    Raises
    ------
    ValueError
        For a spec :func:`parse_field_spec` rejects, a mapping key that differs from its spec's
        name, or a field given twice.
    """
    if not items:
        return {}
    if isinstance(items, str):
        items = [items]
    if isinstance(items, Mapping):
        pairs = []
        for k, v in items.items():
            if isinstance(v, FieldSpec):
                if v.name.lower() != str(k).lower():
                    raise ValueError(f"fields: the key {k!r} holds the field {v.name!r}")
                v = v.value
            pairs.append(f"{k}={v}")
        items = pairs
    out: dict[str, FieldSpec] = {}
    for item in items:
        spec = item if isinstance(item, FieldSpec) else parse_field_spec(item, allowed, model)
        if isinstance(item, FieldSpec):  # check it against the model all the same
            spec = parse_field_spec(item.text, allowed, model)
        if spec.name in out:
            raise ValueError(f"{OPTION} {spec.name} is given twice ({out[spec.name].text} and "
                             f"{spec.text}): give each field once")
        out[spec.name] = spec
    return out


def field_columns(specs: Mapping[str, FieldSpec]) -> list[str]:
    """The data columns the covariate fields read (in order, once each).

    Parameters
    ----------
    specs : Mapping of str to FieldSpec
        Parsed specs.

    Returns
    -------
    list of str
    """
    out: list[str] = []
    for s in specs.values():
        out += [c for c in s.columns if c not in out]
    return out


def check_columns(specs: Mapping[str, FieldSpec], available: Iterable[str]) -> None:
    """Check that the data have every covariate column the specs read.

    Parameters
    ----------
    specs : Mapping of str to FieldSpec
        Parsed specs.
    available : iterable of str
        The data's column names.

    Raises
    ------
    ValueError
        For a missing column (the closest available name suggested).
    """
    available = list(available)
    for s in specs.values():
        for c in s.columns:
            if c not in available:
                raise ValueError(f"{OPTION} {s.text}: DATA has no column {c!r}"
                                 f"{_did_you_mean(c, available)}")


def location_covariates(coords: np.ndarray, values: np.ndarray, names: Iterable[str]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct locations of a (space-time) data set and the covariates there.

    A space-time data set repeats each location at every time, and a spatial field needs one
    value per location.

    Parameters
    ----------
    coords : array_like
        ``(n, 2)`` coordinates.
    values : array_like
        ``(n, J)`` covariate values.
    names : iterable of str
        The J column names, for the message.

    Returns
    -------
    locations : numpy.ndarray
        ``(m, 2)`` distinct locations (sorted).
    covariates : numpy.ndarray
        ``(m, J)`` values at them.

    Raises
    ------
    ValueError
        When a column changes over time at a location.
    """
    coords = np.asarray(coords, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(len(coords), -1)
    locs, inv = np.unique(coords, axis=0, return_inverse=True)
    inv = inv.ravel()
    m = len(locs)
    counts = np.bincount(inv, minlength=m)[:, None]
    mean = np.zeros((m, values.shape[1]))
    np.add.at(mean, inv, values)
    mean /= counts
    spread = np.zeros_like(mean)
    np.maximum.at(spread, inv, np.abs(values - mean[inv]))
    scale = np.maximum(np.abs(mean).max(axis=0), 1e-300)
    bad = np.flatnonzero((spread > 1e-8 * scale).any(axis=0))
    if len(bad):
        col = list(names)[int(bad[0])]
        raise ValueError(f"{OPTION}: the covariate {col!r} changes over time at a location; a "
                         "field of covariates is spatial (one value per location)")
    return locs, mean


__all__ = ["ADVECTION_DIFFUSION_FIELDS", "MATERN_SPDE_FIELDS", "FieldSpec", "check_columns",
           "field_columns", "location_covariates", "parse_field_spec", "parse_field_specs"]
