"""The Matérn field of the SPDE approach, observed with noise: the model behind ``--engine spde``.

    y(s) = X(s) β + x(s) + ε(s),    x = Σ_k ψ_k(s) w_k,  w ~ N(0, Q(θ)⁻¹),  ε ~ N(0, τ²)

Q(θ) is the finite-element precision of τ(κ² − ∇·H∇)^{α/2} x = W (:class:`~fieldfit.spde.
matern.MaternSPDE`), ψ_k the P1 hat functions of a mesh (Lindgren, Rue & Lindström 2011). It
offers the same contract as :class:`~.gaussian_field.GaussianField` (``param_space``,
``log_likelihood``, ``estimate_mean``, ``predict``, ``simulate``), so :func:`fieldfit.fit.fit`
and the CLI use it unchanged. Parameter names follow DESIGN.md: ``variance``, ``range``,
``nugget`` (and ``angle``, ``ratio``); the smoothness ν = α − d/2 is fixed by an integer α,
or, for any other ν (fixed or estimated), the field is the rational approximation's sum of
GMRFs (:class:`~fieldfit.spde.fractional.FractionalMaternSPDE`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from ..data import Observations
from ..gmrf import Pattern
from ..likelihood.gmrf import GMRFEngine
from ..params import Param, positive
from ..spde import Mesh
from ..spde.field_spec import MATERN_SPDE_FIELDS, parse_field_specs
from ..spde.fractional import FractionalMaternSPDE, band_of
from ..spde.fractional import smoothness_param as rational_smoothness
from ..spde.matern import MaternSPDE, marginal_variance_factor, spde_param_specs
from ..spde.summed_fields import SummedFields
from ..spde.two_scale import TwoScaleMaternSPDE, short_param_specs
from .gaussian_field import spread_starts
from .latent_gmrf import LatentGMRFModel
from .latent_gmrf import data_key as _key
from .mean import Mean


def alpha_for_smoothness(nu: float, d: int = 2) -> int:
    """The SPDE order α of a Matérn smoothness, ν = α − d/2.

    Parameters
    ----------
    nu : float
        The smoothness ν.
    d : int
        The spatial dimension.

    Returns
    -------
    int
        α.

    Raises
    ------
    ValueError
        When ν is not α − d/2 for an integer α ≥ 1, naming the values the (integer-order)
        SPDE engine represents in d dimensions.
    """
    alpha = float(nu) + d / 2.0
    if not (nu > 0 and abs(alpha - round(alpha)) < 1e-9 and round(alpha) >= 1):
        first = [a - d / 2.0 for a in range(1, 6) if a - d / 2.0 > 0][:3]
        raise ValueError(f"the SPDE engine represents the Matérn smoothness ν = α − d/2 for "
                         f"integer orders α: in {d}-D ν ∈ {{{', '.join(f'{v:g}' for v in first)}"
                         f", …}}, not {nu:g} (use --engine exact or vecchia for other ν)")
    return int(round(alpha))


def smoothness_param(alpha: int, d: int) -> Param:
    """The ``smoothness`` parameter of an SPDE order: fixed and locked.

    Parameters
    ----------
    alpha : int
        The SPDE order α.
    d : int
        The spatial dimension.

    Returns
    -------
    Param
        ν = α − d/2, fixed (the order sets it).
    """
    nu = alpha - d / 2.0
    return Param("smoothness", positive, nu, fixed=True, locked=True,
                 doc=f"the SPDE order sets ν = α − d/2 (here α = {alpha}); build the model "
                     "with another smoothness for another integer α")


def _per_location(coords: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct locations and the covariates there: two observations at one place (two
    gauges at the same coordinates) give their mean, as one value per place is what a field
    of covariates can be."""
    locs, inv = np.unique(coords, axis=0, return_inverse=True)
    inv = inv.ravel()
    mean = np.zeros((len(locs), values.shape[1]))
    np.add.at(mean, inv, values)
    return locs, mean / np.bincount(inv, minlength=len(locs))[:, None]


def _built_fields(specs: Mapping, box: np.ndarray, obs: Observations | None = None) -> dict:
    """:class:`MaternSPDE`'s ``kappa_field`` / ``tau_field`` / ``angle_field`` /
    ``ratio_field`` from ``--field`` specs over ``box`` (``(2, 2)``: lo, hi per axis); a
    covariate field reads its columns from ``obs`` at the observed locations (averaged where
    two observations share a place)."""
    out = {}
    for name, spec in specs.items():
        if name == "anisotropy":
            out["angle_field"] = spec.build("angle", box, "identity", 0.0)
            out["ratio_field"] = spec.build("ratio", box, "exp", 1.0)
            continue
        f = spec.build(name, box, "exp", 1.0)
        if spec.kind == "covariates" and obs is not None:
            idx = [list(obs.covariate_names).index(c) for c in spec.columns]
            m = obs.observed
            f.attach(*_per_location(obs.coords[m], obs.covariates[m][:, idx]))
        out[f"{name}_field"] = f
    return out


class SPDEField(LatentGMRFModel):
    r"""The Matérn field of the SPDE approach on a mesh, observed with noise.

    .. math::

        y = X\beta + \sum_k \psi_k w_k + \varepsilon, \qquad w \sim N(0, Q^{-1})

    with :math:`Q` the finite-element precision of
    :math:`\tau(\kappa^2 - \nabla\cdot H\nabla)^{\alpha/2} x = W` and :math:`\psi_k` the
    P1 hat functions of the mesh (Lindgren, Rue & Lindström 2011).

    Parameters
    ----------
    mesh : Mesh or None
        The spatial :class:`~fieldfit.spde.Mesh` (None: built from the observed points with
        ``Mesh.from_points(points, **mesh_options)``, once per data set).
    alpha : int
        The SPDE order (2: ν = 1 in 2-D).
    mean : str or Mean
        As :class:`~fieldfit.models.GaussianField`.
    nugget : bool or float
        As :class:`~fieldfit.models.GaussianField`, but needed: the likelihood goes through
        :math:`Q + A^T A/\tau^2`.
    profile_mean : bool
        Profile the mean coefficients out by GLS (default).
    anisotropic : bool
        Estimate a geometric anisotropy (``angle``, ``ratio``).
    kappa_field, tau_field, angle_field, ratio_field : Field or None
        Nonstationary parameters (:class:`~fieldfit.spde.matern.MaternSPDE`).
    mesh_options : Mapping or None
        ``Mesh.from_points`` options of the automatic mesh.
    smoothness : float or None
        A Matérn smoothness ν instead of ``alpha``: an integer α = ν + d/2 is that integer
        model; any other ν is the rational approximation of order ``rational_order``
        (stationary models only).
    estimate_smoothness : bool
        Estimate ν (within the band of ``smoothness``, :mod:`fieldfit.spde.fractional`;
        default ν = 0.5 when ``smoothness`` is None) by the rational approximation.
    rational_order : int
        The rational approximation's order m (1–4): m + 1 fields.
    fields : sequence of str, Mapping or None
        Nonstationary κ, τ and anisotropy as ``--field`` specs (``["kappa=bspline:6x6",
        "tau=rbf:25", "anisotropy=bspline:4x4", "kappa=covariates:elev"]``,
        :mod:`fieldfit.spde.field_spec`), built over each data set's mesh; instead of the
        ``*_field`` arguments.
    two_scale : bool
        The sum of two independent fields of the same order, a long range and a short one
        (``variance_short``, ``range_short``; :class:`~fieldfit.spde.two_scale.
        TwoScaleMaternSPDE`), stationary, integer order.

    Raises
    ------
    ValueError
        Without a nugget, or for a fractional smoothness with nonstationary fields.

    References
    ----------
    F. Lindgren, H. Rue and J. Lindström, An explicit link between Gaussian fields and
    Gaussian Markov random fields: the SPDE approach, JRSS B 73 (2011), 423-498.
    """

    def __init__(self, mesh: Mesh | None = None, alpha: int = 2, mean: str | Mean = "constant",
                 nugget: bool | float = True, profile_mean: bool = True,
                 anisotropic: bool = False, kappa_field=None, tau_field=None,
                 angle_field=None, ratio_field=None,
                 mesh_options: Mapping | None = None, smoothness: float | None = None,
                 estimate_smoothness: bool = False, rational_order: int = 2, fields=None,
                 two_scale: bool = False):
        super().__init__(mean, nugget, profile_mean)
        d = mesh.dim if mesh is not None else 2
        self.fields = parse_field_specs(fields, MATERN_SPDE_FIELDS, "matern")
        if self.fields:
            if any(f is not None for f in (kappa_field, tau_field, angle_field, ratio_field)):
                raise ValueError("give the nonstationary parameters either as fields (specs) "
                                 "or as Field objects, not both")
            # over the unit box for the parameters' names and priors (which do not depend on
            # the box); rebuilt over each data set's mesh by _precision_on
            built = _built_fields(self.fields, np.array([[0.0, 1.0], [0.0, 1.0]]))
            kappa_field, tau_field = built.get("kappa_field"), built.get("tau_field")
            angle_field, ratio_field = built.get("angle_field"), built.get("ratio_field")
        self.smoothness, self.rational_order = None, int(rational_order)
        if smoothness is not None or estimate_smoothness:
            nu = 0.5 if smoothness is None else float(smoothness)
            if not nu > 0:
                raise ValueError(f"the smoothness ν must be positive, got {nu:g}")
            a = nu + d / 2.0
            if not estimate_smoothness and abs(a - round(a)) < 1e-9:
                alpha = int(round(a))              # an integer order: the integer model
            else:
                if any(f is not None for f in (kappa_field, tau_field, angle_field,
                                               ratio_field)):
                    raise ValueError("a fractional smoothness (the rational approximation) "
                                     "takes a stationary model: no parameter fields")
                self.smoothness = nu
                alpha = band_of(nu, d)             # the band: α = alpha + β
        self.estimate_smoothness = bool(estimate_smoothness)
        self.two_scale = bool(two_scale)
        if self.two_scale and (self.smoothness is not None or self.fields or any(
                f is not None for f in (kappa_field, tau_field, angle_field, ratio_field))):
            raise ValueError("the two-scale SPDE field is stationary and of an integer order: "
                             "no parameter fields, no fractional smoothness")
        self.mesh, self.alpha = mesh, int(alpha)
        anisotropic = anisotropic or angle_field is not None or ratio_field is not None
        self.anisotropic, self.kappa_field, self.tau_field = anisotropic, kappa_field, tau_field
        self.angle_field, self.ratio_field = angle_field, ratio_field
        self.mesh_options = dict(mesh_options or {})

    name = "matern-spde"
    space_time = False

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this model.

        A given mesh travels as its nodes and cells.

        Returns
        -------
        dict
            ``{"model": "matern-spde", "alpha", "anisotropic", mean, nugget and mesh
            options}`` (:func:`fieldfit.models.from_spec`).

        Raises
        ------
        ValueError
            For nonstationary parameter fields (no description yet) or mesh options the
            model registry does not take.
        """
        if not self.fields and any(f is not None for f in (
                self.kappa_field, self.tau_field, self.angle_field, self.ratio_field)):
            raise ValueError("nonstationary SPDE fields given as Field objects have no "
                             "registered description: give them as specs (fields=[...])")
        if self.fractional:
            order = {"smoothness": self.smoothness, "rational_order": self.rational_order,
                     "estimate_smoothness": self.estimate_smoothness}
        else:
            order = {"alpha": self.alpha}
        fields = {"fields": {k: v.value for k, v in self.fields.items()}} if self.fields else {}
        if self.two_scale:
            fields["two_scale"] = True
        return {"model": "matern-spde", **order, "anisotropic": self.anisotropic, **fields,
                **self._mesh_spec()}

    @property
    def fractional(self) -> bool:
        """Whether the field is the rational approximation (a non-integer or estimated ν)."""
        return self.smoothness is not None

    def __repr__(self):
        if self.fractional:
            return (f"SPDEField(smoothness={self.smoothness:g}, estimate_smoothness="
                    f"{self.estimate_smoothness}, rational_order={self.rational_order}, "
                    f"mean={self.mean.kind!r}, anisotropic={self.anisotropic}, "
                    f"mesh={self.mesh!r})")
        if self.two_scale:
            return (f"SPDEField(alpha={self.alpha}, two_scale=True, mean={self.mean.kind!r}, "
                    f"anisotropic={self.anisotropic}, mesh={self.mesh!r})")
        return (f"SPDEField(alpha={self.alpha}, mean={self.mean.kind!r}, "
                f"anisotropic={self.anisotropic}, mesh={self.mesh!r})")

    # --- mesh, precision and engine per data set ------------------------------------------
    def mesh_for(self, obs: Observations) -> Mesh:
        """The mesh the model uses on the data.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        Mesh
            ``mesh``, or the automatic one built from the observed locations (once per
            data set).
        """
        if self.mesh is not None:
            return self.mesh
        return self._auto_mesh(obs.coords[obs.observed])

    def spde_for(self, obs: Observations) -> MaternSPDE | FractionalMaternSPDE:
        """The Matérn SPDE precision on the data's mesh (built once per mesh).

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        MaternSPDE or FractionalMaternSPDE
            Its precision's values and log-determinant as functions of the parameters.
        """
        mesh = self.mesh_for(obs)
        key = ("spde", id(mesh))
        if self.fields:  # the covariate fields read this data set
            key = (*key, _key(obs.coords[obs.observed]))
        if key not in self._cache:
            self._cache[key] = self._precision_on(mesh, obs)
        return self._cache[key]

    def _precision_on(self, mesh: Mesh, obs: Observations | None = None):
        if self.two_scale:
            return TwoScaleMaternSPDE(mesh, self.alpha, self.anisotropic)
        if self.fractional:
            return FractionalMaternSPDE(mesh, self.smoothness, self.rational_order,
                                        self.anisotropic)
        fields = {"kappa_field": self.kappa_field, "tau_field": self.tau_field,
                  "angle_field": self.angle_field, "ratio_field": self.ratio_field}
        if self.fields:
            fields = _built_fields(self.fields, np.asarray(mesh.bbox).T, obs)
        return MaternSPDE(mesh, self.alpha, self.anisotropic, **fields)

    def engine_for(self, obs: Observations) -> GMRFEngine:
        """The GMRF engine of the data (built once per data set).

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        GMRFEngine
            The engine of the precision's pattern and the projector to the observed points.
        """
        spde = self.spde_for(obs)
        key = ("engine", id(spde), _key(obs.coords[obs.observed]))
        if key not in self._cache:
            A = self._projector(spde, self.mesh_for(obs), obs.coords[obs.observed])
            self._cache[key] = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), A)
        return self._cache[key]

    @staticmethod
    def _projector(spde, mesh: Mesh, points: np.ndarray):
        """The mesh's projector to ``points`` (for the rational approximation, of the sum of
        its fields)."""
        A = mesh.projector(points)
        return spde.sum_projector(A) if isinstance(spde, SummedFields) else A

    def _check_obs(self, obs: Observations) -> None:
        if obs.dim != 2 and self.mesh is None:
            raise ValueError(f"the SPDE engine builds its mesh in 2-D, the data have {obs.dim} "
                             "coordinate columns: use --engine exact or vecchia (or the model's "
                             f"mesh option with a {obs.dim}-D mesh)")
        if obs.times is not None:
            raise ValueError("the SPDE Matérn model is spatial: the data have times")
        for spec in self.fields.values():
            for c in spec.columns:
                if c not in (obs.covariate_names or ()):
                    raise ValueError(f"--field {spec.text}: the data have no covariate "
                                     f"column {c!r}")

    def _targets(self, obs, new_points, p):
        spde = self.spde_for(obs)
        return (spde, self.engine_for(obs), self._projector(spde, self.mesh_for(obs), new_points),
                new_points)

    # --- parameters -------------------------------------------------------------------------
    def _specs(self) -> list[Param]:
        if self.two_scale:
            return [*spde_param_specs(self.anisotropic), *short_param_specs(),
                    smoothness_param(self.alpha, self.dim)]
        if self.fractional:
            return [*spde_param_specs(self.anisotropic),
                    rational_smoothness(self.alpha, self.dim, self.smoothness,
                                        self.rational_order, not self.estimate_smoothness)]
        return [*spde_param_specs(self.anisotropic, self.kappa_field, self.tau_field,
                                  self.angle_field, self.ratio_field),
                smoothness_param(self.alpha, self.dim)]

    @property
    def dim(self) -> int:
        """The spatial dimension (the mesh's; 2 for an automatic mesh)."""
        return self.mesh.dim if self.mesh is not None else 2

    def initial_values(self, obs: Observations) -> dict[str, float]:
        """A data-driven start from the variance of an OLS mean fit's residuals.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        dict
            ``variance`` (0.9 of the residual variance), ``range`` (a tenth of the
            diameter) and ``nugget`` (0.1 of the variance), those that are parameters; with
            κ or τ fields their intercepts ``kappa`` and ``tau`` at those values.
        """
        var = self._residual_variance(obs)
        out = {}
        kappa = 10.0 / obs.diameter()
        if self.tau_field is None:
            out["variance"] = 0.9 * var
        else:  # τ of that variance at that κ (the Matérn variance formula)
            nu = self.alpha - self.dim / 2.0
            out["tau"] = math.sqrt(marginal_variance_factor(self.alpha, self.dim)
                                   / (kappa ** (2 * nu) * 0.9 * var))
        if self.kappa_field is None:
            out["range"] = 1.0 / kappa
        else:
            out["kappa"] = kappa
        if self.two_scale:  # a third of the field's variance at a third of the range
            out["variance"] = 0.6 * var
            out["variance_short"] = 0.3 * var
            out["range_short"] = 1.0 / (3.0 * kappa)
        if self.nugget is True:
            out["nugget"] = 0.1 * var
        return out

    def restart_values(self, obs: Observations, k: int) -> list[dict[str, float]]:
        """Further starts spread over the range and the nugget share.

        Parameters
        ----------
        obs : Observations
            The data.
        k : int
            How many starts.

        Returns
        -------
        list of dict
            ``k`` starting points (:func:`~fieldfit.models.gaussian_field.spread_starts`).
        """
        return spread_starts(self.initial_values(obs), k)

    def simulate(self, points, params: Mapping, n_replicates: int = 1, seed: int | None = None,
                 noise: bool = True, mesh: Mesh | None = None, coord_names=None,
                 method: str = "cholesky", tol: float = 1e-6) -> np.ndarray:
        """Draws at points: the field on a mesh, projected, plus the mean and the noise.

        w ~ N(0, Q⁻¹) on ``mesh`` (default: the model's mesh, or one built from the points).

        Parameters
        ----------
        points : numpy.ndarray
            ``(n, 2)``.
        params : Mapping
            Natural parameter values by name, with the mean coefficients (``mean`` or
            ``beta_*``).
        n_replicates : int
            The number of independent draws.
        seed : int or None
            The seed of the draws.
        noise : bool
            Add the nugget: simulated observations rather than the field.
        mesh : Mesh or None
            The mesh to simulate on.
        coord_names : sequence of str or None
            The names the mean coefficients are named after (default x0, x1).
        method : str
            "cholesky" (x = L⁻ᵀz with CHOLMOD's factor) or "chebyshev" (matrix-free
            Q^{−1/2}z by a Chebyshev polynomial to relative accuracy ``tol``, Pereira &
            Desassis 2019: O(K·nnz), for meshes too large to factorise; stationary models,
            whose smallest eigenvalue is at least τ²κ^{2α} min C̃_ii since
            K = κ²C̃ + G ≥ κ²C̃).
        tol : float
            The Chebyshev method's relative accuracy.

        Returns
        -------
        numpy.ndarray
            ``(n_replicates, n)``.

        Raises
        ------
        ValueError
            For an unknown method, the Chebyshev method on a nonstationary model, or a
            missing parameter.
        """
        from ..gmrf import GMRF, ChebyshevSampler

        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        mesh = mesh or self.mesh or Mesh.from_points(points, **self.mesh_options)
        p = self._check(params)
        spde = self._precision_on(mesh)
        pattern = Pattern(spde.indptr, spde.indices, spde.n)
        with torch.no_grad():
            q = spde.precision_values(p)
            if method == "cholesky":
                w = GMRF(pattern).factorize(q).sample(n_replicates, seed=seed)
            elif method == "chebyshev":
                if (self.kappa_field is not None or self.tau_field is not None
                        or self.fractional or self.two_scale):
                    raise ValueError("Chebyshev simulation needs a stationary integer-order "
                                     "model (a lower bound on Q's eigenvalues); use "
                                     "method='cholesky'")
                kappa = spde.kappa(p)
                lower = float(spde.tau(p, kappa)[0] ** 2 * kappa[0] ** (2 * self.alpha)
                              * spde.fem.lumped_mass().min())
                w = ChebyshevSampler((pattern, q), tol=tol, lower=lower).sample(
                    n_replicates, seed=seed)
            else:
                raise ValueError(f"unknown simulation method {method!r}: cholesky or chebyshev")
            w = torch.as_tensor(w).reshape(n_replicates, -1).numpy()
        draws = np.asarray((self._projector(spde, mesh, points) @ w.T).T)
        return self._add_mean_and_noise(draws, points, params, p, seed, noise, coord_names)
