"""Spatially varying parameters of nonstationary SPDEs (κ(x), τ(x), H(x), …).

A parameter field is a function of the coordinates with named scalar weights::

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
from ..priors import Normal

LINKS = ("exp", "identity")


class Field:
    r"""A spatially varying parameter :math:`\theta(x) = g(w_0 + \sum_k w_k b_k(x))`.

    The base class is the constant field (K = 0); subclasses supply ``basis(x) -> (n, K)``, the
    extension point. Calling the field, ``field(x, p)``, evaluates θ at ``x`` from the
    parameter values ``p``.

    Parameters
    ----------
    name : str
        Name of the field's parameter (the intercept w₀); weights are ``{name}_w{k}``.
    value : float, default 1.0
        Starting value of the intercept on the natural scale (positive for the exp link).
    link : {"exp", "identity"}, default "exp"
        Link g.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.

    Raises
    ------
    ValueError
        If ``link`` is unknown or the exp link gets a non-positive ``value``.
    """

    def __init__(self, name: str, value: float = 1.0, link: str = "exp", fixed: bool = False):
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}; choose one of {LINKS}")
        if link == "exp" and not value > 0:
            raise ValueError(
                f"field {name!r} with the exp link needs a positive value, got {value}")
        self.name, self.value, self.link, self.fixed = name, float(value), link, fixed

    # --- extension point ----------------------------------------------------------------
    def basis(self, x: np.ndarray) -> np.ndarray:
        """The basis functions (K = 0 for a constant field) at ``x``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, d)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` basis values, K = :attr:`n_weights`.
        """
        return np.zeros((len(x), 0))

    # --- derived ------------------------------------------------------------------------
    @property
    def n_weights(self) -> int:
        """Number K of basis weights (the intercept excluded).

        Returns
        -------
        int
        """
        return self.basis(np.zeros((1, self.dim_hint()))).shape[1]

    def dim_hint(self) -> int:
        """Number of coordinates d the field expects (2 unless a subclass knows better).

        Returns
        -------
        int
        """
        return 2

    def weight_names(self) -> list[str]:
        """Names of the basis weights, ``{name}_w0``, ``{name}_w1``, ….

        Returns
        -------
        list of str
            K names.
        """
        return [f"{self.name}_w{k}" for k in range(self.n_weights)]

    def param_specs(self) -> list[Param]:
        """The field's parameters: the intercept (natural scale) and the weights.

        All at the stationary model (weights 0).

        Returns
        -------
        list of fieldfit.params.Param
            ``{name}`` then the weights, in :meth:`weight_names` order.
        """
        out = [Param(self.name, positive if self.link == "exp" else real, self.value,
                     fixed=self.fixed, doc=f"{self.name} where the other weights are 0")]
        out += [Param(n, real, 0.0, doc=f"weight of basis function {k} of {self.name}")
                for k, n in enumerate(self.weight_names())]
        return out

    def design(self, x) -> torch.Tensor:
        """The basis at ``x`` as a float64 tensor (evaluate once, reuse as ``design=``).

        Parameters
        ----------
        x : array_like
            ``(n, d)`` coordinates (a single point may be given as ``(d,)``).

        Returns
        -------
        torch.Tensor
            ``(n, K)`` float64 basis values.
        """
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
    r"""A stationary parameter written as a field, :math:`\theta(x) = w_0`.

    Parameters
    ----------
    name : str
        Name of the field's parameter (the intercept w₀); weights are ``{name}_w{k}``.
    value : float, default 1.0
        Starting value of the intercept on the natural scale (positive for the exp link).
    link : {"exp", "identity"}, default "exp"
        Link g.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.
    """


class RadialBasisField(Field):
    r"""A field on radial basis functions, :math:`g(w_0 + \sum_k w_k \phi(\|x - c_k\|/s))`.

    The radial function is :math:`\phi(r) = \exp(-r^2/2)` (``"gaussian"``) or the Wendland
    function :math:`(1 - r)_+^4 (4r + 1)` (``"wendland"``, compact support).

    Parameters
    ----------
    name : str
        Name of the intercept parameter; weights are ``{name}_w{k}``.
    centers : array_like
        ``(K, d)`` centres :math:`c_k`.
    scale : float
        Scale s > 0 of the radial function.
    value : float, default 1.0
        Starting value of the intercept on the natural scale.
    link : {"exp", "identity"}, default "exp"
        Link g.
    kind : {"gaussian", "wendland"}, default "gaussian"
        Radial function.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.
    sd : float or None, optional
        A ``Normal(0, sd)`` prior on every weight (a ridge penalty on the link scale, which
        keeps a fit with many centres stable); None: no prior.

    Raises
    ------
    ValueError
        If ``link`` or ``kind`` is unknown, ``scale`` or ``sd`` is not positive, or the exp
        link gets a non-positive ``value``.
    """

    def __init__(self, name: str, centers, scale: float, value: float = 1.0, link: str = "exp",
                 kind: str = "gaussian", fixed: bool = False, sd: float | None = None):
        super().__init__(name, value, link, fixed)
        if sd is not None and not sd > 0:
            raise ValueError(f"the weights' prior sd must be positive, got {sd}")
        self.sd = None if sd is None else float(sd)
        self.centers = np.atleast_2d(np.asarray(centers, dtype=np.float64))
        if not scale > 0:
            raise ValueError(f"radial basis scale must be positive, got {scale}")
        if kind not in ("gaussian", "wendland"):
            raise ValueError(f"unknown radial basis {kind!r}; choose gaussian or wendland")
        self.scale, self.kind = float(scale), kind

    def dim_hint(self):
        """Number of coordinates d the field expects (the centres' dimension).

        Returns
        -------
        int
        """
        return self.centers.shape[1]

    def basis(self, x):
        """The radial functions of the distances to the centres at ``x``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, d)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` basis values, K = :attr:`n_weights`.

        Raises
        ------
        ValueError
            If ``x`` and the centres differ in dimension.
        """
        if x.shape[1] != self.centers.shape[1]:
            raise ValueError(f"points are {x.shape[1]}-D, the centres {self.centers.shape[1]}-D")
        r = np.sqrt(((x[:, None, :] - self.centers[None]) ** 2).sum(-1)) / self.scale
        if self.kind == "gaussian":
            return np.exp(-0.5 * r * r)
        return np.clip(1.0 - r, 0.0, None) ** 4 * (4.0 * r + 1.0)

    def param_specs(self) -> list[Param]:
        """The intercept and the weights, each weight with its ``Normal(0, sd)`` prior when
        ``sd`` is set.

        Returns
        -------
        list of fieldfit.params.Param
        """
        specs = super().param_specs()
        if self.sd is None:
            return specs
        return [specs[0], *(Param(s.name, real, 0.0, prior=Normal(0.0, self.sd),
                                  doc=f"{s.doc} (ridge prior sd {self.sd:g})")
                            for s in specs[1:])]

    @classmethod
    def grid(cls, name: str, bounds, shape, value: float = 1.0, link: str = "exp",
             kind: str = "gaussian", overlap: float = 1.0,
             sd: float | None = None) -> RadialBasisField:
        """A radial basis field with centres on a regular grid over ``bounds``.

        Parameters
        ----------
        name : str
            Name of the intercept parameter.
        bounds : array_like
            ``(xmin, xmax, ymin, ymax, …)``, reshaped to ``(d, 2)``.
        shape : sequence of int
            Number of centres along each axis, length d.
        value : float, default 1.0
            Starting value of the intercept.
        link : {"exp", "identity"}, default "exp"
            Link g.
        kind : {"gaussian", "wendland"}, default "gaussian"
            Radial function.
        overlap : float, default 1.0
            Scale as a multiple of the smallest grid spacing.
        sd : float or None, optional
            The weights' ridge prior (see the class).

        Returns
        -------
        RadialBasisField
            ``Π shape`` centres, scale ``overlap`` × spacing.
        """
        bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        axes = [np.linspace(lo, hi, k) for (lo, hi), k in zip(bounds, shape, strict=True)]
        centers = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        spacing = min((hi - lo) / max(k - 1, 1) for (lo, hi), k in zip(bounds, shape,
                                                                          strict=True))
        return cls(name, centers, overlap * spacing, value, link, kind, sd=sd)


class BSplineField(Field):
    r"""A tensor-product B-spline field, :math:`\theta(x) = g(w_0 + \sum_k w_k B_k(x))`.

    The B-splines (scipy) have one clamped knot vector with equally spaced inner knots per
    dimension over ``bounds``; the first tensor-product function is dropped, because the
    intercept :math:`w_0` spans the constant, which the B-splines sum to.

    Parameters
    ----------
    name : str
        Name of the intercept parameter; weights are ``{name}_w{k}``.
    bounds : array_like
        ``(xmin, xmax, ymin, ymax, …)``, reshaped to ``(d, 2)``.
    n_basis : int or sequence of int
        Number of B-splines per dimension (one number for all, or d numbers).
    value : float, default 1.0
        Starting value of the intercept.
    link : {"exp", "identity"}, default "exp"
        Link g.
    degree : int or sequence of int, default 3
        Spline degree, one number or one per dimension.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.

    Raises
    ------
    ValueError
        If the numbers of sizes or degrees do not match the dimension, a dimension has fewer
        than ``degree + 1`` functions, or the link/value is invalid.
    """

    def __init__(self, name: str, bounds, n_basis, value: float = 1.0, link: str = "exp",
                 degree: int = 3, fixed: bool = False):
        super().__init__(name, value, link, fixed)
        self.bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
        n_basis = [int(n_basis)] * len(self.bounds) if np.isscalar(n_basis) else list(n_basis)
        degrees = ([int(degree)] * len(self.bounds) if np.isscalar(degree)
                   else [int(g) for g in degree])
        if len(n_basis) != len(self.bounds) or len(degrees) != len(self.bounds):
            raise ValueError(f"{len(self.bounds)}-D bounds need {len(self.bounds)} sizes and "
                             f"degrees, got {n_basis} and {degrees}")
        if any(k < g + 1 for k, g in zip(n_basis, degrees, strict=True)):
            raise ValueError(f"each dimension needs at least degree + 1 = "
                             f"{max(degrees) + 1} basis functions, got {n_basis}")
        self.degrees, self.n_basis = degrees, n_basis
        self.degree = degrees[0] if len(set(degrees)) == 1 else tuple(degrees)
        self.knots = []
        for (lo, hi), k, g in zip(self.bounds, n_basis, degrees, strict=True):
            inner = np.linspace(lo, hi, k - g + 1)
            self.knots.append(np.concatenate([[lo] * g, inner, [hi] * g]))

    def dim_hint(self):
        """Number of coordinates d the field expects (the number of bounds).

        Returns
        -------
        int
        """
        return len(self.bounds)

    def full_basis(self, x: np.ndarray) -> np.ndarray:
        r"""All :math:`\prod_a K_a` tensor-product B-splines at ``x``; the rows sum to 1.

        The first axis varies slowest (index :math:`i_0 K_1 \cdots + i_1 \cdots`); points beyond
        the bounds take the value at the bound (constant extension).

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, d)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` dense basis values.

        Raises
        ------
        ValueError
            If ``x`` does not have d columns.
        """
        if x.shape[1] != len(self.bounds):
            raise ValueError(f"points are {x.shape[1]}-D, the spline {len(self.bounds)}-D")
        out = np.ones((len(x), 1))
        for a, t in enumerate(self.knots):
            lo, hi = self.bounds[a]
            xa = np.clip(x[:, a], lo, hi)  # constant extension beyond the bounds
            Ba = BSpline.design_matrix(xa, t, self.degrees[a]).toarray()
            out = (out[:, :, None] * Ba[:, None, :]).reshape(len(x), -1)
        return out

    def basis(self, x):
        """The tensor-product B-splines less the first at ``x``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, d)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` basis values, K = :attr:`n_weights`.
        """
        return self.full_basis(x)[:, 1:]


def second_difference_penalty(n_basis) -> np.ndarray:
    r"""Second-difference penalty matrix of a tensor-product B-spline (Eilers & Marx 1996).

    .. math::

        P = \sum_a I \otimes \cdots \otimes D_a^\top D_a \otimes \cdots \otimes I,

    with :math:`D_a` the ``(K_a - 2, K_a)`` second-difference matrix of axis a, in
    :meth:`BSplineField.full_basis`'s order: :math:`a^\top P a` is the sum of the squared second
    differences of the coefficients along every axis. Its null space, the multilinear
    coefficients, has dimension :math:`2^d`.

    Parameters
    ----------
    n_basis : sequence of int
        Number of B-splines :math:`K_a` per axis.

    Returns
    -------
    numpy.ndarray
        ``(K, K)`` dense penalty, :math:`K = \prod_a K_a`.
    """
    n_basis = [int(k) for k in n_basis]
    total = np.zeros((int(np.prod(n_basis)),) * 2)
    for a, k in enumerate(n_basis):
        D = np.diff(np.eye(k), n=2, axis=0)
        mats = [np.eye(m) for m in n_basis]
        mats[a] = D.T @ D
        term = np.ones((1, 1))
        for m in mats:
            term = np.kron(term, m)
        total += term
    return total


class PSplineField(BSplineField):
    r"""A tensor B-spline field with a second-difference roughness prior (a P-spline).

    The splines are cubic (quadratic along a dimension with 3 functions); the prior is that of
    Eilers & Marx (1996) and Lang & Brezger (2004):

    .. math::

        \theta(x) = g\Big(w_0 + \sum_k a_k B_k(x)\Big), \qquad
        p(a) \propto \exp\big(-a^\top P a / (2\,\mathrm{sd}^2)\big),

    with P the :func:`second_difference_penalty`: the second differences of the coefficients a
    along each axis are :math:`N(0, \mathrm{sd}^2)` a priori, so ``sd`` is the roughness allowed
    per knot interval on the link scale (log θ for the exp link). P's null space, the
    multilinear coefficients (x, y, xy, … in the coefficients' indices; the constant is the
    intercept's), gets the same scale as a proper prior: a slope of s per knot interval (a twist
    of s per cell for xy) has log density :math:`-s^2/(2\,\mathrm{sd}^2)`, as a second
    difference of s has. Without it the trend runs away where the mesh's bounding box has no
    data (its corners).

    The weights are the coefficients in that basis, :math:`a = U w` with :math:`U = [N, E]`
    orthonormal ``(K, K - 1)``: N the normalised products of centred indices
    :math:`n_j / \|n_j\|` (the null space less the constant, which the intercept spans; the
    B-splines sum to 1), E the eigenvectors of P with eigenvalues :math:`e_j > 0`, so that

    .. math::

        a^\top P a / (2\,\mathrm{sd}^2) = \sum_{j \in E} e_j w_j^2 / (2\,\mathrm{sd}^2),

    and each weight gets its own independent prior, ``Normal(0, sd/√e_j)`` (E) or
    ``Normal(0, sd ‖n_j‖)`` (N), as its :class:`~fieldfit.params.Param` ``prior``. The penalised
    likelihood of a fit is then the existing ``priors`` mechanism
    (:math:`\ell(\theta) + \sum_i \log p(\theta_i)`, :func:`fieldfit.fit`), with no new term in
    the optimiser; the basis of weight j is :math:`\sum_k U_{kj} B_k(x)`. The decomposition
    depends only on the numbers of basis functions, not on ``bounds``.

    Parameters
    ----------
    name : str
        Name of the intercept parameter; weights are ``{name}_w{k}``.
    bounds : array_like
        ``(xmin, xmax, ymin, ymax, …)``, reshaped to ``(d, 2)``.
    n_basis : int or sequence of int
        Number of B-splines per dimension (at least 3).
    value : float, default 1.0
        Starting value of the intercept.
    link : {"exp", "identity"}, default "exp"
        Link g.
    sd : float, default 1.0
        Prior roughness per knot interval on the link scale.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.

    Raises
    ------
    ValueError
        If ``sd`` is not positive and finite, or the B-spline arguments are invalid.

    References
    ----------
    Eilers, P. H. C. & Marx, B. D. (1996). Flexible smoothing with B-splines and penalties.
    Statistical Science 11, 89–121.

    Lang, S. & Brezger, A. (2004). Bayesian P-splines. J. Comput. Graph. Stat. 13, 183–212.
    """

    def __init__(self, name: str, bounds, n_basis, value: float = 1.0, link: str = "exp",
                 sd: float = 1.0, fixed: bool = False):
        n_basis = ([int(n_basis)] * np.asarray(bounds).reshape(-1, 2).shape[0]
                   if np.isscalar(n_basis) else [int(k) for k in n_basis])
        # cubic, quadratic along a dimension of 3 functions (the smallest with a curvature)
        super().__init__(name, bounds, n_basis, value, link,
                         degree=[min(3, k - 1) for k in n_basis], fixed=fixed)
        if not (np.isfinite(sd) and sd > 0):
            raise ValueError(f"the roughness sd must be positive, got {sd}")
        self.sd = float(sd)
        self.penalty_matrix = second_difference_penalty(self.n_basis)
        K, d = self.penalty_matrix.shape[0], len(self.n_basis)
        # null space: products of (1, centred index) per axis (mutually orthogonal), the
        # constant first
        cols = np.ones((1, 1))
        for k in self.n_basis:
            j = np.arange(k, dtype=np.float64)
            cols = np.kron(cols, np.column_stack([np.ones(k), j - j.mean()]))
        norms = np.linalg.norm(cols, axis=0)
        null = cols / norms
        evals, evecs = np.linalg.eigh(self.penalty_matrix)
        keep = evals > 1e-9 * evals.max()
        if keep.sum() != K - 2**d:
            raise ValueError("the second-difference penalty has an unexpected null space")
        E = evecs[:, keep]
        E = E * np.sign(E[np.argmax(np.abs(E), axis=0), np.arange(E.shape[1])])
        self.U = np.hstack([null[:, 1:], E])
        self.eigenvalues = np.concatenate([np.zeros(null.shape[1] - 1), evals[keep]])
        #: the prior sd of each weight: sd ‖n_j‖ (trend), sd / √e_j (roughness)
        with np.errstate(divide="ignore"):
            self.prior_sd = np.where(self.eigenvalues > 0, self.sd / np.sqrt(
                np.where(self.eigenvalues > 0, self.eigenvalues, 1.0)),
                self.sd * np.concatenate([norms[1:], np.ones(keep.sum())]))

    @property
    def n_weights(self) -> int:
        """Number K of basis weights :math:`K - 1`, the columns of U.

        Returns
        -------
        int
        """
        return self.U.shape[1]

    def basis(self, x):
        """The B-splines in the weights' basis, ``full_basis(x) @ U`` at ``x``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, d)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` basis values, K = :attr:`n_weights`.
        """
        return self.full_basis(x) @ self.U

    def param_specs(self):
        """The field's parameters: the intercept (natural scale) and the weights.

        Each weight with its ``Normal`` prior.

        Returns
        -------
        list of fieldfit.params.Param
            ``{name}`` then the weights, in :meth:`weight_names` order.
        """
        specs = super().param_specs()
        out = [specs[0]]
        for s, e, v in zip(specs[1:], self.eigenvalues, self.prior_sd, strict=True):
            what = "roughness" if e > 0 else "trend"
            out.append(Param(s.name, real, 0.0, prior=Normal(0.0, float(v)),
                             doc=f"{s.doc} (P-spline {what} coefficient, prior sd "
                             f"{self.sd:g} per knot interval)"))
        return out

    def coefficients(self, p: Mapping) -> np.ndarray:
        """The B-spline coefficients :math:`a = U w` (the intercept excluded).

        Parameters
        ----------
        p : Mapping
            Parameter values by name, including every weight.

        Returns
        -------
        numpy.ndarray
            ``(K,)`` coefficients in :meth:`full_basis` order.
        """
        w = np.array([float(p[n]) for n in self.weight_names()])
        return self.U @ w

    def penalty(self, a) -> float:
        r"""The roughness penalty :math:`a^\top P a / (2\,\mathrm{sd}^2)` of B-spline coefficients.

        It is minus the log prior density of their non-multilinear part, up to a constant.

        Parameters
        ----------
        a : array_like
            ``(K,)`` coefficients.

        Returns
        -------
        float
        """
        a = np.asarray(a, dtype=np.float64)
        return float(a @ self.penalty_matrix @ a) / (2.0 * self.sd**2)


class CovariateField(Field):
    r"""A field driven by covariates, :math:`\theta(s) = g(w_0 + \sum_j w_j \tilde z_j(s))`.

    :math:`\tilde z_j` is the covariate column j standardised over the observed locations
    (mean 0, sd 1), so :math:`w_0` is θ at the covariates' mean and :math:`w_j` the effect of one
    sd of column j (on the log scale for the exp link). The covariates are known at the observed
    locations (:meth:`attach`); elsewhere (the mesh's nodes) they are the piecewise-linear
    interpolant on the Delaunay triangulation of those locations inside their convex hull and
    the nearest location's value outside it. The weights have no prior.

    Parameters
    ----------
    name : str
        Name of the intercept parameter; weights are ``{name}_{column}``.
    columns : sequence of str
        Covariate column names, J ≥ 1.
    value : float, default 1.0
        Starting value of the intercept.
    link : {"exp", "identity"}, default "exp"
        Link g.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.

    Raises
    ------
    ValueError
        If ``columns`` is empty or the link/value is invalid.
    """

    def __init__(self, name: str, columns, value: float = 1.0, link: str = "exp",
                 fixed: bool = False):
        super().__init__(name, value, link, fixed)
        self.columns = tuple(columns)
        if not self.columns:
            raise ValueError("a covariate field needs at least one column")
        self.locations = self.values = None

    def attach(self, locations, values) -> CovariateField:
        """Set the covariate values at the observed locations.

        Parameters
        ----------
        locations : array_like
            ``(m, 2)`` distinct locations.
        values : array_like
            ``(m, J)`` covariate values.

        Returns
        -------
        CovariateField
            ``self``.

        Raises
        ------
        ValueError
            If the number of columns differs from J, a value is NaN or infinite, or a column is
            constant.
        """
        from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

        locations = np.asarray(locations, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64).reshape(len(locations), -1)
        if values.shape[1] != len(self.columns):
            raise ValueError(f"{len(self.columns)} covariate columns, got {values.shape[1]}")
        if not np.isfinite(values).all():
            raise ValueError(f"covariates {', '.join(self.columns)} of the field {self.name!r} "
                             "contain NaN or infinite values at observed locations")
        sd = values.std(axis=0)
        if np.any(sd == 0):
            bad = self.columns[int(np.flatnonzero(sd == 0)[0])]
            raise ValueError(f"covariate {bad!r} of the field {self.name!r} is constant at the "
                             "observed locations")
        self.locations, self.values = locations, values
        self._center, self._scale = values.mean(axis=0), sd
        self._near = NearestNDInterpolator(locations, values)
        try:
            self._lin = LinearNDInterpolator(locations, values)
        except Exception:  # fewer than 3 points, or all on a line: nearest only
            self._lin = None
        return self

    @property
    def n_weights(self) -> int:
        """Number K of basis weights (one per covariate column).

        Returns
        -------
        int
        """
        return len(self.columns)

    def interpolate(self, x: np.ndarray) -> np.ndarray:
        """The covariates at ``x``: linear inside the locations' convex hull, nearest outside.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, 2)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, J)`` covariate values (not standardised).

        Raises
        ------
        ValueError
            If :meth:`attach` has not been called.
        """
        if self.values is None:
            raise ValueError(f"the covariate field {self.name!r} has no data: attach the "
                             f"columns {', '.join(self.columns)} first")
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = self._near(x).reshape(len(x), -1)
        if self._lin is not None:
            lin = np.asarray(self._lin(x)).reshape(len(x), -1)
            inside = np.isfinite(lin).all(axis=1)
            out[inside] = lin[inside]
        return out

    def basis(self, x):
        """The standardised covariates at ``x``.

        Parameters
        ----------
        x : numpy.ndarray
            ``(n, d)`` coordinates.

        Returns
        -------
        numpy.ndarray
            ``(n, K)`` basis values, K = :attr:`n_weights`.

        Raises
        ------
        ValueError
            If :meth:`attach` has not been called.
        """
        return (self.interpolate(x) - self._center) / self._scale

    def weight_names(self) -> list[str]:
        """Names of the weights, ``{name}_{column}``.

        Returns
        -------
        list of str
        """
        return [f"{self.name}_{c}" for c in self.columns]


class NeuralField(Field):
    r"""A field given by a small neural network, :math:`\theta(x) = g(w_0 + \mathrm{NN}(x))`.

    NN is a multilayer perceptron with ``hidden`` tanh layers and a linear output, its weights
    named ``{name}_w{k}`` (row-major, layer by layer). The output layer starts at 0 (the
    stationary model); the hidden layers at seeded Glorot-uniform values, stored as the
    parameters' defaults. Coordinates are scaled to [−1, 1] over ``bounds``.

    Parameters
    ----------
    name : str
        Name of the intercept parameter.
    bounds : array_like
        ``(xmin, xmax, ymin, ymax, …)``, reshaped to ``(d, 2)``.
    hidden : sequence of int, default (16,)
        Widths of the hidden layers.
    value : float, default 1.0
        Starting value of the intercept.
    link : {"exp", "identity"}, default "exp"
        Link g.
    seed : int, default 0
        Seed of the initial hidden-layer weights.
    fixed : bool, default False
        Whether the intercept is fixed at ``value``.

    Raises
    ------
    ValueError
        If the link/value is invalid.
    """

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
        """Number K of network weights and biases (the intercept excluded).

        Returns
        -------
        int
        """
        return len(self.init)

    def param_specs(self):
        """The field's parameters: the intercept (natural scale) and the weights.

        The weights at their initial values.

        Returns
        -------
        list of fieldfit.params.Param
            ``{name}`` then the weights, in :meth:`weight_names` order.
        """
        specs = super().param_specs()
        return [specs[0]] + [Param(s.name, real, float(v), doc=s.doc)
                             for s, v in zip(specs[1:], self.init, strict=True)]

    def design(self, x):
        """The network's input: ``x`` scaled to [−1, 1] over ``bounds``.

        Parameters
        ----------
        x : array_like
            ``(n, d)`` coordinates.

        Returns
        -------
        torch.Tensor
            ``(n, d)`` float64 scaled coordinates.
        """
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


__all__ = ["BSplineField", "ConstantField", "CovariateField", "Field", "NeuralField",
           "PSplineField", "RadialBasisField", "second_difference_penalty"]
