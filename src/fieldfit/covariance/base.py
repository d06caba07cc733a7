"""The covariance contract.

A covariance maps two point sets ``x1 (n1, D)`` and ``x2 (n2, D)`` and a dict of natural
parameter tensors to the matrix ``(n1, n2)``; batches ``(B, n1, D)``, ``(B, n2, D)`` give
``(B, n1, n2)`` (the Vecchia engine's conditioning blocks). Stationary isotropic covariances
need only one method, the correlation of the scaled distance (the extension point, as
GSTools' ``cor``):

    C(h) = σ² ρ(‖h‖ / ℓ)

and get the matrix, its diagonal, their parameters, the starting values and their
description (``to_spec``) derived. Points of space-time covariances carry the time as their
last column.

Covariance classes are registered by name (:func:`register_covariance`, :data:`COVARIANCES`):
a registered covariance describes itself with ``to_spec()`` (``{"covariance": name,
**options}``), :func:`covariance_from_spec` rebuilds it, and the model registry
(:func:`fieldfit.models.build`) offers a Gaussian field with it under the same name.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..params import Param, ParamSpace, positive

Params = Mapping[str, torch.Tensor]


def pairwise_sq_dist(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances computed from differences (exact at h = 0).

    Parameters
    ----------
    x1 : torch.Tensor
        Points ``(..., n1, D)``.
    x2 : torch.Tensor
        Points ``(..., n2, D)``; leading batch dimensions broadcast with ``x1``'s.

    Returns
    -------
    torch.Tensor
        ``(..., n1, n2)``.
    """
    if x1.shape[-1] == 1:
        return (x1 - x2.transpose(-1, -2)) ** 2
    diff = x1[..., :, None, :] - x2[..., None, :, :]
    return (diff * diff).sum(-1)


def safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    """The square root with a zero (not NaN) gradient where ``d2`` is 0.

    Parameters
    ----------
    d2 : torch.Tensor
        Non-negative values, any shape.

    Returns
    -------
    torch.Tensor
        :math:`\\sqrt{d_2}`, the shape of ``d2``.
    """
    pos = d2 > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, d2, torch.ones_like(d2))), 0.0 * d2)


def distance(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Euclidean distances, exact zeros on coincident points.

    Parameters
    ----------
    x1 : torch.Tensor
        Points ``(..., n1, D)``.
    x2 : torch.Tensor
        Points ``(..., n2, D)``, batched like :func:`pairwise_sq_dist`.

    Returns
    -------
    torch.Tensor
        ``(..., n1, n2)``.
    """
    if x1.shape[-1] == 1:
        return (x1 - x2.transpose(-1, -2)).abs()
    if not (x1.requires_grad or x2.requires_grad):
        return torch.cdist(x1, x2, compute_mode="donot_use_mm_for_euclid_dist")
    return safe_sqrt(pairwise_sq_dist(x1, x2))


#: the registered covariance classes by name (:func:`register_covariance`)
COVARIANCES: dict[str, type[Covariance]] = {}


def register_covariance(name: str):
    """Class decorator: register a covariance class under ``name``.

    The class's instances then describe themselves (``to_spec()``), are rebuilt by
    :func:`covariance_from_spec`, and :func:`fieldfit.models.build` offers a Gaussian field
    with the covariance under ``name`` (unless a model of that name is registered itself, as
    for the built-in ones), taking the class's constructor options beside the Gaussian
    field's.

    Parameters
    ----------
    name : str
        The registry name, lower case (for example ``"matern"``).

    Returns
    -------
    callable
        The decorator; it returns the class unchanged but for its ``spec_name``.

    Raises
    ------
    ValueError
        When ``name`` is empty, not lower case, or already registered.

    Examples
    --------
    >>> import torch
    >>> from fieldfit.covariance import COVARIANCES, Isotropic, register_covariance
    >>> @register_covariance("doc-cauchy")
    ... class Cauchy(Isotropic):
    ...     def correlation(self, r, p):
    ...         return 1.0 / (1.0 + r * r)
    >>> Cauchy().to_spec()
    {'covariance': 'doc-cauchy'}
    >>> del COVARIANCES["doc-cauchy"]
    """
    if not name or name != str(name).lower():
        raise ValueError(f"a covariance's registry name must be lower case, got {name!r}")

    def deco(cls):
        if name in COVARIANCES:
            raise ValueError(f"covariance {name!r} is already registered "
                             f"({COVARIANCES[name].__name__})")
        if not (isinstance(cls, type) and issubclass(cls, Covariance)):
            raise ValueError(f"register_covariance takes a Covariance subclass, not {cls!r}")
        cls.spec_name = name
        COVARIANCES[name] = cls
        return cls

    return deco


def covariance_from_spec(spec: Mapping) -> Covariance:
    """Rebuild a covariance from its ``to_spec()``.

    Parameters
    ----------
    spec : Mapping
        ``{"covariance": name, **options}``, with ``"anisotropic": True`` for a geometric
        anisotropy of the named isotropic covariance.

    Returns
    -------
    Covariance
        The covariance ``COVARIANCES[name].from_options(**options)``.

    Raises
    ------
    ValueError
        For a spec without a registered ``"covariance"`` name.
    """
    from ..errors import did_you_mean

    options = dict(spec)
    name = options.pop("covariance", None)
    if name not in COVARIANCES:
        raise ValueError(f"unknown covariance {name!r}{did_you_mean(str(name), COVARIANCES)}; "
                         f"registered: {', '.join(sorted(COVARIANCES))}")
    anisotropic = options.pop("anisotropic", False)
    cov = COVARIANCES[name].from_options(**options)
    if anisotropic:
        from .anisotropy import Anisotropic

        cov = Anisotropic(cov)
    return cov


class Covariance:
    """Base class: a positive-definite function of two point sets.

    Subclasses give :meth:`param_specs` and :meth:`__call__` (the matrix); isotropic ones
    derive from :class:`Isotropic` and give only the correlation.

    Attributes
    ----------
    time_dims : int
        The number of trailing columns of the points that are time (0 or 1).
    euclidean : bool
        True when the covariance is a function of the Euclidean distance only (engines may
        then cache distances, and ``crs="lonlat"`` may use it with chordal distances).
    spec_name : str or None
        The registry name (set by :func:`register_covariance`); None when not registered.
    """

    time_dims: int = 0
    euclidean: bool = False
    spec_name: str | None = None

    def param_specs(self) -> list[Param]:
        """The covariance's parameters.

        Returns
        -------
        list of Param
            Their names, transforms and defaults.
        """
        raise NotImplementedError

    def params(self) -> ParamSpace:
        """The covariance's parameters as a :class:`~fieldfit.params.ParamSpace`.

        Returns
        -------
        ParamSpace
            ``ParamSpace(self.param_specs())``.
        """
        return ParamSpace(self.param_specs())

    def __call__(self, x1: torch.Tensor, x2: torch.Tensor, p: Params) -> torch.Tensor:
        """The covariance matrix of two point sets.

        Parameters
        ----------
        x1 : torch.Tensor
            Points ``(..., n1, D)``.
        x2 : torch.Tensor
            Points ``(..., n2, D)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(..., n1, n2)``.
        """
        raise NotImplementedError

    def paired(self, x1: torch.Tensor, x2: torch.Tensor, p: Params) -> torch.Tensor:
        """Covariances of paired points (the diagonal of the matrix).

        The Vecchia engine builds its blocks from these.

        Parameters
        ----------
        x1, x2 : torch.Tensor
            Points ``(..., D)``, paired row by row.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(...)``.
        """
        return self(x1[..., None, :], x2[..., None, :], p)[..., 0, 0]

    def diag(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        """The variances at the points.

        Parameters
        ----------
        x : torch.Tensor
            Points ``(..., n, D)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values; ``variance`` is used.

        Returns
        -------
        torch.Tensor
            ``(..., n)``.
        """
        return p["variance"] * torch.ones(x.shape[:-1], dtype=x.dtype)

    def initial_values(self, variance: float, diameter: float, time_span: float = 1.0) -> dict:
        """A data-driven starting point.

        Parameters
        ----------
        variance : float
            The share of the data's variance given to the field.
        diameter : float
            The domain's diameter.
        time_span : float
            The data's time span (space-time covariances).

        Returns
        -------
        dict
            ``{"variance": variance, "range": diameter / 10}``.
        """
        return {"variance": variance, "range": diameter / 10.0}

    # --- description -------------------------------------------------------------------------
    def spec_options(self) -> dict:
        """The constructor options that rebuild this covariance (plain JSON data).

        Returns
        -------
        dict
            ``{}`` by default; subclasses with constructor options return them.

        Raises
        ------
        ValueError
            When the instance has a setting its description cannot carry.
        """
        return {}

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this covariance.

        Returns
        -------
        dict
            ``{"covariance": spec_name, **spec_options()}``
            (:func:`covariance_from_spec` rebuilds it).

        Raises
        ------
        ValueError
            When the class is not registered (:func:`register_covariance`).
        """
        cls = type(self)
        if not self._registered():
            raise ValueError(f"{self!r} has no registered description: register "
                             f"{cls.__name__} with fieldfit.covariance.register_covariance")
        return {"covariance": self.spec_name, **self.spec_options()}

    @classmethod
    def from_options(cls, **options) -> Covariance:
        """The covariance of the options ``spec_options()`` returned.

        Parameters
        ----------
        **options
            The constructor options.

        Returns
        -------
        Covariance
            ``cls(**options)``.
        """
        return cls(**options)

    def _registered(self) -> bool:
        """The instance's own class is registered (a subclass inherits ``spec_name`` only)."""
        return self.spec_name is not None and COVARIANCES.get(self.spec_name) is type(self)

    @property
    def name(self) -> str:
        """The covariance's label: its registry name, else its class name in lower case."""
        return self.spec_name if self._registered() else type(self).__name__.lower()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Isotropic(Covariance):
    r"""A stationary isotropic covariance, derived from its correlation function.

    .. math::

        C(h) = \sigma^2 \rho(\lVert h \rVert / \ell)

    Subclasses give only :meth:`correlation`, :math:`\rho(r)` of the scaled distance
    :math:`r \ge 0` with :math:`\rho(0) = 1` (as GSTools' ``cor``); the parameters
    (``variance`` :math:`\sigma^2`, ``range`` :math:`\ell`), the matrix, its diagonal, the
    paired covariances, the covariance of a distance, the starting values and the
    description (:meth:`~Covariance.to_spec`, after :func:`register_covariance`) are
    derived. A correlation with parameters of its own adds them by extending
    :meth:`param_specs`. See Chilès & Delfiner (2012), §2.3.

    References
    ----------
    J.-P. Chilès and P. Delfiner, Geostatistics: Modeling Spatial Uncertainty, 2nd ed.,
    Wiley, 2012.
    """

    euclidean = True

    def param_specs(self) -> list[Param]:
        """``variance`` and ``range``, both positive.

        Returns
        -------
        list of Param
            The two parameters.
        """
        return [
            Param("variance", positive, 1.0, doc="marginal variance σ²"),
            Param("range", positive, 1.0, doc="range ℓ"),
        ]

    def correlation(self, r: torch.Tensor, p: Params) -> torch.Tensor:
        """The correlation of scaled distances: the one method a subclass gives.

        Parameters
        ----------
        r : torch.Tensor
            Scaled distances :math:`\\lVert h \\rVert / \\ell \\ge 0`, any shape.
        p : Mapping[str, torch.Tensor]
            Natural parameter values (for correlations with parameters of their own).

        Returns
        -------
        torch.Tensor
            :math:`\\rho(r)`, the shape of ``r``; 1 at ``r = 0``.
        """
        raise NotImplementedError

    def scaled_distance(self, x1: torch.Tensor, x2: torch.Tensor, p: Params) -> torch.Tensor:
        """Distances between two point sets divided by the range.

        Parameters
        ----------
        x1 : torch.Tensor
            Points ``(..., n1, D)``.
        x2 : torch.Tensor
            Points ``(..., n2, D)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values; ``range`` is used.

        Returns
        -------
        torch.Tensor
            ``(..., n1, n2)``.
        """
        return distance(x1, x2) / p["range"]

    def paired_scaled_distance(self, diff: torch.Tensor, p: Params) -> torch.Tensor:
        """Scaled lengths of difference vectors.

        Parameters
        ----------
        diff : torch.Tensor
            Differences ``(..., D)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values; ``range`` is used.

        Returns
        -------
        torch.Tensor
            ``(...)``.
        """
        return safe_sqrt((diff * diff).sum(-1)) / p["range"]

    def __call__(self, x1, x2, p):
        """:math:`\\sigma^2 \\rho(r)` for the scaled distances of two point sets.

        Parameters
        ----------
        x1 : torch.Tensor
            Points ``(..., n1, D)``.
        x2 : torch.Tensor
            Points ``(..., n2, D)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(..., n1, n2)``.
        """
        return p["variance"] * self.correlation(self.scaled_distance(x1, x2, p), p)

    def paired(self, x1, x2, p):
        """:math:`\\sigma^2 \\rho(r)` of paired points.

        Parameters
        ----------
        x1, x2 : torch.Tensor
            Points ``(..., D)``, paired row by row.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(...)``.
        """
        return p["variance"] * self.correlation(self.paired_scaled_distance(x1 - x2, p), p)

    def covariance_of_distance(self, h: torch.Tensor, p: Params) -> torch.Tensor:
        """The covariance as a function of the (unscaled) distance.

        Parameters
        ----------
        h : torch.Tensor
            Distances, any shape.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            :math:`C(h)`, the shape of ``h``.
        """
        return p["variance"] * self.correlation(h / p["range"], p)
