"""The Gaussian random field with a nugget: the basic geostatistical model.

    y(x) = X(x) β + Z(x) + ε(x),    Z ~ GP(0, C_θ),   ε ~ N(0, τ²) independent

C_θ is any covariance of :mod:`fieldfit.covariance`, X(x) β a :class:`~.mean.Mean`, τ² =
``nugget``. The model offers the contract every estimator relies on: ``param_space``,
``log_likelihood`` (differentiable, through a likelihood engine), ``simulate`` and ``predict``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import torch

from ..covariance import Covariance, Matern
from ..data import Observations
from ..geo import check_crs, chordal_diameter, lonlat_to_cartesian
from ..likelihood import GaussianSpec, get_engine
from ..params import DTYPE, Param, ParamSpace, positive, real
from .mean import MEAN_KINDS, Mean

Params = Mapping[str, torch.Tensor]
PREDICTION_KINDS = ("universal", "ordinary", "simple")


def _t(a) -> torch.Tensor:
    # a copy: the input may be read-only (pandas' to_numpy)
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE)


def ols_residual_variance(y: np.ndarray, X: np.ndarray) -> float:
    """The variance of the OLS residuals: the scale of the data-driven starting values.

    Parameters
    ----------
    y : numpy.ndarray
        Values ``(r, n)``.
    X : numpy.ndarray
        The mean's design ``(n, p)`` (p = 0: the variance of ``y``).

    Returns
    -------
    float
        var(y − Xβ̂_OLS), or 1 when that is 0.
    """
    resid = y - (X @ np.linalg.lstsq(X, y.T, rcond=None)[0]).T if X.shape[1] else y
    return float(np.var(resid)) or 1.0


def nugget_specs(nugget: bool | float) -> list[Param]:
    """The ``nugget`` parameter of a model's ``nugget`` option.

    Parameters
    ----------
    nugget : bool or float
        True (estimated), a positive value (fixed), or False / 0 (none).

    Returns
    -------
    list of Param
        One parameter, or none.
    """
    if nugget is True:
        return [Param("nugget", positive, 0.1, doc="noise variance τ²")]
    if nugget is not False and float(nugget) > 0:
        return [Param("nugget", positive, float(nugget), fixed=True)]
    return []


def with_mean_params(specs: list[Param], profile_mean: bool, names) -> ParamSpace:
    """A model's parameters with its mean coefficients unless the mean is profiled.

    Parameters
    ----------
    specs : list of Param
        The covariance (or precision) parameters and the nugget.
    profile_mean : bool
        The mean coefficients are profiled out by GLS (not parameters).
    names : callable or None
        Returns the mean coefficients' names (None when no data were given).

    Returns
    -------
    ParamSpace
        ``specs``, and the coefficients (real, start 0) unless profiled.

    Raises
    ------
    ValueError
        When the coefficients are parameters but ``names`` is None.
    """
    if not profile_mean:
        if names is None:
            raise ValueError("the mean coefficients' names depend on the data: pass obs")
        specs = specs + [Param(n, real, 0.0) for n in names()]
    return ParamSpace(specs)


def spread_starts(base: Mapping[str, float], k: int) -> list[dict[str, float]]:
    """Further starting points spread around ``base``.

    The ranges (``range``, ``time_range``) are multiplied by 1/3, 3, 1/9, 9 in turn, and
    the total variance σ² + τ² is split with nugget shares 0.5, 0.02, 0.3, 0.05 (where both
    ``variance`` and ``nugget`` are given).

    Parameters
    ----------
    base : Mapping
        The data-driven start ``{name: value}``.
    k : int
        How many starts.

    Returns
    -------
    list of dict
        ``k`` starting points.
    """
    total = base.get("variance", 1.0) + base.get("nugget", 0.0)
    out = []
    for i in range(k):
        v = dict(base)
        f = [1 / 3, 3.0, 1 / 9, 9.0][i % 4]
        for name in ("range", "time_range"):
            if name in v:
                v[name] = base[name] * f
        if "nugget" in v and "variance" in v:
            share = [0.5, 0.02, 0.3, 0.05][i % 4]
            v["nugget"], v["variance"] = share * total, (1 - share) * total
        out.append(v)
    return out


def check_spherical_covariance(cov: Covariance) -> None:
    """Check that a covariance can be used on the sphere (``crs="lonlat"``).

    Its spatial part must be a function of the Euclidean distance (an isotropic covariance,
    or a space-time one built on it): the chordal distance on the sphere keeps exactly those
    positive definite (:mod:`fieldfit.geo`).

    Parameters
    ----------
    cov : Covariance
        The covariance.

    Raises
    ------
    ValueError
        For an anisotropic covariance or one that is not a function of the distance.
    """
    from ..covariance import Anisotropic, Gneiting, Isotropic, Separable

    if isinstance(cov, Anisotropic):
        raise ValueError("--anisotropic is not available with --crs lonlat: geometric "
                         "anisotropy needs planar coordinates (project lon/lat to a local "
                         "planar CRS in km, or drop --anisotropic)")
    space = cov.space if isinstance(cov, Separable) else cov
    if isinstance(space, Anisotropic):
        return check_spherical_covariance(space)
    if not (isinstance(cov, Gneiting) or (isinstance(space, Isotropic) and space.euclidean)
            or (space.euclidean and not space.time_dims)):
        raise ValueError(f"{cov!r} is not a function of the distance: --crs lonlat needs an "
                         "isotropic covariance (matern, exponential, gaussian, separable, "
                         "gneiting)")


class GaussianField:
    r"""The Gaussian random field with a nugget: the basic geostatistical model.

    .. math::

        y(x) = X(x)\beta + Z(x) + \varepsilon(x), \qquad Z \sim GP(0, C_\theta), \qquad
        \varepsilon \sim N(0, \tau^2)

    with :math:`C_\theta` any covariance of :mod:`fieldfit.covariance`, :math:`X\beta` a
    :class:`~fieldfit.models.Mean` and :math:`\tau^2` the ``nugget`` (Cressie 1993, §3.2).

    Parameters
    ----------
    covariance : Covariance or None
        The covariance (default ``Matern()``).
    mean : str or Mean
        "zero", "constant", "linear" (in the coordinates), "covariates" or
        "linear+covariates".
    nugget : bool or float
        True (estimated), a float (fixed :math:`\tau^2`), or False (none).
    profile_mean : bool
        Profile the mean coefficients out by GLS (default) instead of optimising them.
    engine : str or CovarianceEngine
        The likelihood engine's name ("exact", "vecchia") or an engine instance.
    crs : str
        "planar" (default: Euclidean distances in the coordinates' units) or "lonlat": the
        two spatial coordinates are longitude, latitude in degrees, converted once to 3-D
        Cartesian points on the Earth's sphere (km, :mod:`fieldfit.geo`), so every
        covariance is a function of the chordal distance and ``range`` is in kilometres.
        Needs an isotropic spatial covariance (anisotropy is refused); the mean stays a
        function of the given (lon, lat), and prediction and simulation points are
        (lon, lat[, t]) too.

    Raises
    ------
    ValueError
        For an unknown mean, engine or crs, a negative nugget, or a covariance ``crs``
        cannot take.

    References
    ----------
    N. Cressie, Statistics for Spatial Data, revised ed., Wiley, 1993.
    """

    #: nonstationary parameters given as field specs: none
    fields: Mapping = MappingProxyType({})
    #: not a :class:`~fieldfit.contract.MeshModel`
    mesh_model = False

    def __init__(
        self,
        covariance: Covariance | None = None,
        mean: str | Mean = "constant",
        nugget: bool | float = True,
        profile_mean: bool = True,
        engine="exact",
        crs: str = "planar",
    ):
        self.covariance = covariance if covariance is not None else Matern()
        self.crs = check_crs(crs)
        if self.crs == "lonlat":
            check_spherical_covariance(self.covariance)
        self.mean = mean if isinstance(mean, Mean) else Mean(mean)
        if nugget is not True and nugget is not False and not float(nugget) >= 0:
            raise ValueError(f"nugget must be True, False or a non-negative number, got {nugget}")
        self.nugget = nugget
        self.profile_mean = profile_mean
        self.engine = get_engine(engine)

    @property
    def name(self) -> str:
        """The model's label: its covariance's name."""
        return self.covariance.name

    # --- what fit reads of the model --------------------------------------------------------
    @property
    def engine_name(self) -> str:
        """The engine's registry name (``exact``, ``vecchia``)."""
        return self.engine.name

    @property
    def hessian(self) -> str:
        """How ``fit`` takes Hessians: the engine's "autograd" or "differences"."""
        return self.engine.hessian

    def coarse(self) -> GaussianField | None:
        """A copy on the engine's cheaper approximation, for ``fit`` to search on first.

        Returns
        -------
        GaussianField or None
            The copy (Vecchia with fewer neighbours), or None when the engine has none.
        """
        engine = self.engine.coarse()
        if engine is None:
            return None
        other = copy.copy(self)
        other.engine = engine
        return other

    @property
    def space_time(self) -> bool:
        """The model's points are (coordinates, time): a space-time covariance."""
        return bool(self.covariance.time_dims)

    @property
    def coarse_label(self) -> str:
        """What :meth:`coarse` is, for ``fit``'s messages."""
        return self.engine.label

    def check_data(self, obs: Observations) -> None:
        """Check, before any work, that the model can take the data.

        Parameters
        ----------
        obs : Observations
            The data.

        Raises
        ------
        ValueError
            For space-time data and a spatial covariance (and the reverse), or repeated
            measurements at one location without a nugget (the covariance matrix would be
            singular); with ``crs="lonlat"`` also coordinates that are not degrees, and rows
            that name one point of the sphere differently (longitude −180 and 180, any
            longitude at a pole) without a nugget.
        """
        pts = self.covariance_points(self.points(obs))
        if obs.times is not None and not self.covariance.time_dims:
            raise ValueError(f"{self.covariance!r} is a spatial covariance but the data have "
                             "times: use --model separable or gneiting (space-time)")
        if not self.nugget and obs.n_duplicated:
            raise ValueError(f"{obs.n_duplicated} observed rows repeat a location without a "
                             "nugget: the covariance matrix is singular; estimate a nugget "
                             "(repeated measurements) or average the values per location")
        if not self.nugget and self.crs == "lonlat":
            # the same point of the sphere to 1e-6 km, however its longitude is written
            observed = np.round(pts[obs.observed], 6)
            repeats = len(observed) - len(np.unique(observed, axis=0))
            if repeats:
                raise ValueError(f"{repeats} observed rows repeat a location on the sphere "
                                 "(e.g. longitudes -180 and 180, or two longitudes at a pole) "
                                 "without a nugget: the covariance matrix is singular; "
                                 "estimate a nugget or average the values per location")

    # --- description ------------------------------------------------------------------------
    def to_spec(self) -> dict:
        """The registry name and options that rebuild this model.

        The model's name is its covariance's registry name (the model registered under it,
        :func:`fieldfit.models.build`), its options the covariance's (``smoothness``,
        ``anisotropic``), the mean, nugget and engine, and ``crs`` when not planar.

        Returns
        -------
        dict
            ``{"model": name, **options}`` (:meth:`from_spec` rebuilds the model).

        Raises
        ------
        ValueError
            When the covariance or the mean has no registered description.
        """
        from ..likelihood import engine_spec

        cov = self.covariance.to_spec()
        spec = {"model": cov.pop("covariance"), **cov}
        if self.mean.kind not in MEAN_KINDS:
            raise ValueError(f"mean {self.mean!r} has no registered description")
        eng = engine_spec(self.engine)
        engine = eng.pop("engine")
        eng.pop("chunk", None)
        spec.update(mean=self.mean.kind, nugget=self.nugget, profile_mean=self.profile_mean,
                    engine=engine)
        if engine == "vecchia":
            spec.update(eng)
        if self.crs != "planar":  # planar specs carry no crs
            spec["crs"] = self.crs
        return spec

    @classmethod
    def from_spec(cls, spec):
        """Rebuild a model from its :meth:`to_spec`.

        Parameters
        ----------
        spec : Mapping
            ``{"model": name, **options}``.

        Returns
        -------
        Model
            :func:`fieldfit.models.from_spec` of ``spec``.
        """
        from .registry import from_spec

        return from_spec(spec)

    def __repr__(self):
        return (
            f"GaussianField({self.covariance!r}, mean={self.mean.kind!r}, nugget={self.nugget!r},"
            f" engine={self.engine.name!r}"
            + (f", crs={self.crs!r})" if self.crs != "planar" else ")")
        )

    # --- parameters ---------------------------------------------------------------------
    def mean_names(self, obs: Observations) -> list[str]:
        """The names of the mean coefficients.

        Parameters
        ----------
        obs : Observations
            The data (its coordinate and covariate names).

        Returns
        -------
        list of str
            :meth:`Mean.names` of the data's names.
        """
        return self.mean.names(obs.coord_names, obs.covariate_names or ())

    def _covariance_specs(self) -> list[Param]:
        return list(self.covariance.param_specs()) + nugget_specs(self.nugget)

    def param_space(self, obs: Observations | None = None) -> ParamSpace:
        """The covariance's parameters, ``nugget``, and the mean coefficients unless profiled.

        Parameters
        ----------
        obs : Observations or None
            The data (needed for the mean coefficients' names when they are parameters).

        Returns
        -------
        ParamSpace
            The parameters.

        Raises
        ------
        ValueError
            When the mean coefficients are parameters and ``obs`` is None.
        """
        return with_mean_params(self._covariance_specs(), self.profile_mean,
                                None if obs is None else lambda: self.mean_names(obs))

    def initial_values(self, obs: Observations) -> dict[str, float]:
        """A data-driven start from the variance of an OLS mean fit's residuals.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        dict
            The covariance's start (variance 0.9 of the residual variance, ranges a tenth
            of the diameter and time span), the nugget (0.1 of it) and, when not profiled,
            the OLS mean coefficients.
        """
        y, X, _ = self._observed_arrays(obs)
        var = ols_residual_variance(y, X)
        span = float(np.ptp(obs.times)) if obs.times is not None else 1.0
        out = self.covariance.initial_values(0.9 * var, self.diameter(obs), span or 1.0)
        if self.nugget is True:
            out["nugget"] = 0.1 * var
        if not self.profile_mean and X.shape[1]:
            beta = np.linalg.lstsq(X, y.mean(0), rcond=None)[0]
            out.update(zip(self.mean_names(obs), beta.tolist(), strict=True))
        return out

    def restart_values(self, obs: Observations, k: int) -> list[dict[str, float]]:
        """Further starts spread over the ranges and the nugget share (:func:`spread_starts`).

        Parameters
        ----------
        obs : Observations
            The data.
        k : int
            How many starts.

        Returns
        -------
        list of dict
            ``k`` starting points.
        """
        return spread_starts(self.initial_values(obs), k)

    # --- data -------------------------------------------------------------------------
    def _observed_arrays(self, obs: Observations):
        """Observed values ``(r, n_obs)``, design ``(n_obs, p)``, points ``(n_obs, D)``."""
        mask = obs.observed
        vals = obs.values_2d[:, mask]
        if np.isnan(vals).any():
            raise ValueError(
                "replicates are missing at different locations; GaussianField needs every "
                "replicate observed at the same locations (split the data by pattern)"
            )
        cov = obs.covariates[mask] if obs.covariates is not None else None
        X = self.mean.design(obs.coords[mask], cov)
        return vals, X, self.covariance_points(self.points(obs)[mask])

    def points(self, obs: Observations) -> np.ndarray:
        """The model's points: the coordinates, with the time for space-time covariances.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        numpy.ndarray
            ``(n, D)`` as given ((lon, lat[, t]) with ``crs="lonlat"``; predictions and
            simulations take the same).

        Raises
        ------
        ValueError
            For a space-time covariance and data without times.
        """
        if self.covariance.time_dims:
            if obs.times is None:
                raise ValueError(f"{self.covariance!r} is a space-time covariance: give the "
                                 "observation times (--time)")
            return obs.points
        return obs.coords

    def covariance_points(self, points: np.ndarray, what: str = "coordinates") -> np.ndarray:
        """The points the covariance and the engine see for model points.

        Parameters
        ----------
        points : numpy.ndarray
            Model points ``(n, D)`` (:meth:`points`).
        what : str
            What the points are, for error messages.

        Returns
        -------
        numpy.ndarray
            ``points`` with ``crs="planar"``; with ``"lonlat"`` the (lon, lat) columns as
            3-D Cartesian points in km (:func:`fieldfit.geo.lonlat_to_cartesian`),
            ``(n, D + 1)``, the time (if any) kept last.

        Raises
        ------
        ValueError
            For lon/lat points without two coordinate columns, or outside the degrees'
            ranges.
        """
        if self.crs == "planar":
            return points
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        k = self.covariance.time_dims
        if points.shape[1] - k != 2:
            raise ValueError(f"--crs lonlat needs two coordinate columns (longitude, latitude), "
                             f"got {points.shape[1] - k}")
        xyz = lonlat_to_cartesian(points[:, :2], what=what)
        return np.column_stack([xyz, points[:, 2:]]) if k else xyz

    def diameter(self, obs: Observations) -> float:
        """The largest distance between two locations: the scale of the starting range.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        float
            In the coordinates' units, or chordal km with ``crs="lonlat"``.
        """
        if self.crs == "planar":
            return obs.diameter()
        return chordal_diameter(self.covariance_points(self.points(obs))[:, :3])

    def _spec(self, params: Params, obs: Observations, profile: bool | None = None) -> GaussianSpec:
        cov = self.covariance
        nugget = params.get("nugget", torch.zeros((), dtype=DTYPE))
        beta = None
        if not (self.profile_mean if profile is None else profile):
            names = self.mean_names(obs)
            missing = [n for n in names if n not in params]
            if missing:
                raise ValueError(f"missing values of the mean coefficients {missing}")
            beta = torch.stack([params[k] for k in names]) if names else torch.zeros(0, dtype=DTYPE)
        return GaussianSpec(
            kernel=lambda a, b: cov(a, b, params), diag=lambda a: cov.diag(a, params),
            nugget=nugget, beta=beta, paired=lambda a, b: cov.paired(a, b, params),
            of_distance=((lambda h: cov.covariance_of_distance(h, params))
                         if cov.euclidean else None),
        )

    def _check_params(self, params: Mapping) -> dict[str, torch.Tensor]:
        return ParamSpace(self._covariance_specs()).complete(params)

    # --- the model contract --------------------------------------------------------------
    def log_likelihood(self, obs: Observations, params: Mapping) -> torch.Tensor:
        """The log-likelihood of the observed values, through the engine.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            Natural parameter values by name (fixed ones may be left out).

        Returns
        -------
        torch.Tensor
            0-d, differentiable in ``params`` (the mean profiled out if ``profile_mean``).

        Raises
        ------
        ValueError
            For a missing parameter or one outside its domain.
        """
        p = self._check_params(params)  # fills fixed values, rejects missing/invalid ones
        y, X, pts = self._observed_arrays(obs)
        return self.engine.log_likelihood(self._spec(p, obs), _t(pts), _t(y), _t(X))

    def estimate_mean(self, obs: Observations, params: Mapping) -> tuple[dict, dict]:
        """GLS coefficients and their standard errors at given covariance parameters.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            Natural values of the covariance parameters and the nugget.

        Returns
        -------
        tuple of dict
            The coefficients and their standard errors by name (empty for a zero mean).
        """
        p = self._check_params(params)
        y, X, pts = self._observed_arrays(obs)
        names = self.mean_names(obs)
        if not names:
            return {}, {}
        with torch.no_grad():
            beta, cov = self.engine.gls(self._spec(p, obs, profile=True), _t(pts), _t(y), _t(X))
        se = torch.sqrt(torch.diagonal(cov))
        return (
            dict(zip(names, beta.tolist(), strict=True)),
            dict(zip(names, se.tolist(), strict=True)),
        )

    def simulate(
        self,
        points: np.ndarray,
        params: Mapping,
        n_replicates: int = 1,
        seed: int | None = None,
        covariates: np.ndarray | None = None,
        noise: bool = True,
        coord_names=None,
        covariate_names=None,
    ) -> np.ndarray:
        """Draws of the field (and its noise) by Cholesky factorisation, mean included.

        Parameters
        ----------
        points : numpy.ndarray or Observations
            Points ``(n, D)`` (coordinates, and the time last for space-time models; lon/lat
            degrees with ``crs="lonlat"``), or an :class:`~fieldfit.data.Observations` whose
            locations, times, covariates and names are used (its values are ignored).
        params : Mapping
            Natural parameter values by name: the covariance's, ``nugget``, and the mean
            coefficients (``mean`` for a constant mean; ``beta_<name>`` otherwise, the names
            from ``coord_names`` / ``covariate_names``, default x0, x1, …, z0, …).
        n_replicates : int
            The number of independent draws.
        seed : int or None
            The seed of the draws (the same seed gives the same draws).
        covariates : numpy.ndarray or None
            Covariates ``(n, q)`` for a mean with covariates.
        noise : bool
            Add the nugget: simulated observations rather than the latent field.
        coord_names, covariate_names : sequence of str or None
            The names the mean coefficients are named after.

        Returns
        -------
        numpy.ndarray
            Draws ``(n_replicates, n)``.

        Raises
        ------
        ValueError
            For non-finite points, a missing or invalid parameter, or more points than a
            dense Cholesky factorisation takes.

        Examples
        --------
        >>> import numpy as np
        >>> from fieldfit import GaussianField, Matern
        >>> model = GaussianField(Matern(smoothness=1.5))
        >>> points = np.random.default_rng(0).uniform(size=(50, 2))
        >>> params = {"variance": 1.0, "range": 0.2, "nugget": 0.01, "mean": 2.0}
        >>> y = model.simulate(points, params, n_replicates=3, seed=1)
        >>> y.shape
        (3, 50)
        >>> bool(np.array_equal(y, model.simulate(points, params, n_replicates=3, seed=1)))
        True
        >>> bool(abs(y.mean() - 2.0) < 1.0)
        True
        """
        from ..likelihood.exact import check_dense_size, cholesky

        if isinstance(points, Observations):
            obs = points
            points = self.points(obs)
            covariates = obs.covariates if covariates is None else covariates
            coord_names = coord_names or obs.coord_names
            covariate_names = covariate_names or obs.covariate_names
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if not np.isfinite(points).all():
            raise ValueError("simulation points contain NaN or infinite coordinates")
        check_dense_size(len(points), "simulation by Cholesky")
        p = self._check_params(params)
        pts = _t(self.covariance_points(points, "simulation points"))
        d = points.shape[1] - self.covariance.time_dims
        X = self.mean.design(points[:, :d], covariates)
        q = 0 if covariates is None else covariates.shape[1]
        names = self.mean.names(coord_names or [f"x{i}" for i in range(d)],
                                covariate_names or [f"z{i}" for i in range(q)])
        missing = [n for n in names if n not in p]
        if missing:
            raise ValueError(f"simulation needs the mean coefficients {missing}")
        beta = np.array([float(p[n]) for n in names])
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        with torch.no_grad():
            K = self.covariance(pts, pts, p)
            if noise and "nugget" in p:
                K = K + p["nugget"] * torch.eye(len(points), dtype=DTYPE)
            L = cholesky(K)
            z = torch.randn(len(points), n_replicates, generator=gen, dtype=DTYPE)
            draws = (L @ z).T.numpy()
        return draws + X @ beta

    def predict(
        self,
        obs: Observations,
        new_points: np.ndarray,
        params: Mapping,
        kind: str = "universal",
        noise: bool = True,
        new_covariates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Kriging mean and standard deviation at new points.

        Parameters
        ----------
        obs : Observations
            The data.
        new_points : numpy.ndarray
            ``(m, D)``, as :meth:`points`.
        params : Mapping
            Natural parameter values by name.
        kind : str
            "universal" (mean coefficients re-estimated by GLS, their uncertainty in the
            variance), "ordinary" (the same for a constant mean) or "simple" (coefficients
            known, taken from ``params``).
        noise : bool
            Predict a new observation (τ² added) rather than the field.
        new_covariates : numpy.ndarray or None
            Covariates ``(m, q)`` of a mean with covariates.

        Returns
        -------
        tuple of numpy.ndarray
            Mean and sd, ``(m,)`` each (``(r, m)`` for replicated data).

        Raises
        ------
        ValueError
            For an unknown ``kind``, ordinary kriging without a constant mean, or points
            with another number of columns than the data's.
        """
        pred = self._predict(obs, new_points, params, kind, noise, new_covariates, False)
        mean, sd = pred.mean.numpy(), torch.sqrt(pred.var).numpy()
        return (mean[0], sd[0]) if mean.shape[0] == 1 else (mean, sd)

    def predictive_covariance(self, obs, new_points, params, kind="universal", noise=False,
                              new_covariates=None):
        """The joint predictive distribution at new points.

        Parameters
        ----------
        obs : Observations
            The data.
        new_points : numpy.ndarray
            ``(m, D)``.
        params : Mapping
            Natural parameter values by name.
        kind : str
            "universal", "ordinary" or "simple" (:meth:`predict`).
        noise : bool
            Of new observations rather than the field.
        new_covariates : numpy.ndarray or None
            Covariates ``(m, q)`` of a mean with covariates.

        Returns
        -------
        tuple of numpy.ndarray
            The mean ``(r, m)`` and the covariance ``(m, m)``.
        """
        pred = self._predict(obs, new_points, params, kind, noise, new_covariates, True)
        return pred.mean.numpy(), pred.var.numpy()

    def _check_new_points(self, obs, new_points: np.ndarray) -> None:
        if new_points.shape[1] != self.points(obs).shape[1]:
            raise ValueError(
                f"prediction points have {new_points.shape[1]} columns, the data "
                f"{self.points(obs).shape[1]}"
            )
        if not np.isfinite(new_points).all():
            raise ValueError("prediction points contain NaN or infinite coordinates")

    def _predict(self, obs, new_points, params, kind, noise, new_covariates, full_cov):
        if kind not in PREDICTION_KINDS:
            raise ValueError(f"unknown kriging kind {kind!r}; choose one of {PREDICTION_KINDS}")
        if kind == "ordinary" and self.mean.kind != "constant":
            raise ValueError("ordinary kriging needs a constant mean; use universal kriging")
        new_points = np.atleast_2d(np.asarray(new_points, dtype=np.float64))
        self._check_new_points(obs, new_points)
        p = self._check_params(params)
        y, X, pts = self._observed_arrays(obs)
        d = obs.dim
        X0 = self.mean.design(new_points[:, :d], new_covariates)
        spec = self._spec(p, obs, profile=(kind != "simple"))
        with torch.no_grad():
            return self.engine.predict(
                spec, _t(pts), _t(y), _t(X),
                _t(self.covariance_points(new_points, "prediction points")), _t(X0),
                noise=noise, full_cov=full_cov,
            )

    def conditional_simulation(
        self,
        obs: Observations,
        new_points: np.ndarray,
        params: Mapping,
        n_samples: int = 1,
        seed: int | None = None,
        kind: str = "universal",
        noise: bool = False,
        new_covariates: np.ndarray | None = None,
    ) -> np.ndarray:
        """Draws of the field at new points given the data.

        Engines that simulate at scale (Vecchia: a sparse triangular factor of the joint
        predictive distribution) do so; otherwise the dense predictive covariance is
        factorised.

        Parameters
        ----------
        obs : Observations
            The data (a single replicate for the dense path).
        new_points : numpy.ndarray
            ``(m, D)``.
        params : Mapping
            Natural parameter values by name.
        n_samples : int
            The number of draws.
        seed : int or None
            The seed of the draws.
        kind : str
            "universal", "ordinary" or "simple" (:meth:`predict`).
        noise : bool
            Draws of new observations rather than of the field.
        new_covariates : numpy.ndarray or None
            Covariates ``(m, q)`` of a mean with covariates.

        Returns
        -------
        numpy.ndarray
            ``(n_samples, m)``.

        Raises
        ------
        ValueError
            For an unknown ``kind``, bad points, or replicated data on the dense path.
        """
        from ..likelihood.exact import check_dense_size, cholesky

        if self.engine.simulates_conditionally:
            new_points = np.atleast_2d(np.asarray(new_points, dtype=np.float64))
            self._check_new_points(obs, new_points)
            if kind not in PREDICTION_KINDS:
                raise ValueError(f"unknown kriging kind {kind!r}; choose one of {PREDICTION_KINDS}")
            p = self._check_params(params)
            y, X, pts = self._observed_arrays(obs)
            X0 = self.mean.design(new_points[:, : obs.dim], new_covariates)
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            with torch.no_grad():
                draws = self.engine.conditional_simulation(
                    self._spec(p, obs, profile=(kind != "simple")), _t(pts), _t(y), _t(X),
                    _t(self.covariance_points(new_points, "prediction points")), _t(X0),
                    n_samples, gen, noise=noise)
            return draws.numpy()
        check_dense_size(len(np.atleast_2d(new_points)), "conditional simulation")
        mean, cov = self.predictive_covariance(obs, new_points, params, kind, noise, new_covariates)
        if mean.shape[0] != 1:
            raise ValueError("conditional simulation needs a single replicate")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        L = cholesky(torch.as_tensor(cov))
        z = torch.randn(cov.shape[0], n_samples, generator=gen, dtype=DTYPE)
        return mean[0][None, :] + (L @ z).T.numpy()
