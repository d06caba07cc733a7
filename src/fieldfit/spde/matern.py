r"""The Matérn field as the solution of an SPDE, discretised by finite elements.

.. math::

    \tau (\kappa^2 - \nabla\cdot H\nabla)^{\alpha/2} x = \mathcal{W} \quad \text{in } \mathbb{R}^d

(Lindgren, Rue & Lindström 2011, JRSS-B, §2.3) has, for H = I, the Matérn covariance with
ν = α − d/2, κ = 1/ℓ (DESIGN.md's range ℓ) and the marginal variance

.. math::

    \sigma^2 = \frac{\Gamma(\nu)}{\Gamma(\alpha) (4\pi)^{d/2} \kappa^{2\nu} \tau^2 \sqrt{\det H}}.

With P1 elements, :math:`K = \mathrm{diag}(\kappa^2) \tilde C + G` (:math:`\tilde C` the
lumped mass, G the stiffness with H), the precision of the weights is

.. math::

    Q_1 = T K T, \quad Q_2 = T K \tilde C^{-1} K T, \quad
    Q_\alpha = T K (\tilde C^{-1} K)^{\alpha-1} T, \quad T = \mathrm{diag}(\tau),

for integer α (their eq. 10 and the recursion of §2.3; κ, τ per node give the nonstationary
model of §3.2, H per cell the anisotropic one of Fuglstad et al. 2015). The products of sparse
matrices are formed on fixed patterns by :class:`PatternProduct`, so Q's values are a
differentiable function of σ², ℓ, the anisotropy and the weights of parameter fields.

Since :math:`\tilde C` and T are diagonal and K is symmetric positive definite,

.. math::

    \log|Q_\alpha| = 2 \sum_i \log\tau_i + \alpha \log|K| - (\alpha - 1) \sum_i \log \tilde C_{ii},

so :math:`\log|Q|` and its gradient (selected inverse of K) come from a factorisation of K,
whose pattern is that of the mesh, rather than of Q, whose pattern is that of the (α−1)-th
power of the mesh graph, which is denser and slower to factorise
(:meth:`MaternSPDE.precision_and_logdet`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from ..gmrf import GMRF, Pattern
from ..params import DTYPE, Param, interval, positive
from .fem import FEM
from .fields import Field


class PatternProduct:
    r"""Sparse product :math:`C = A\, \mathrm{diag}(w)\, B` on fixed patterns, differentiable.

    A and B have symmetric sparse patterns (CSC, both triangles); C is computed on the pattern
    of the product,

    .. math::

        C_{ij} = \sum_k A_{ik} w_k B_{jk},

    as one gather–multiply–scatter over the precomputed triples (i, k, j):
    :math:`\sum_k \deg_A(k) \deg_B(k)` of them. (No library multiplies sparse matrices with
    autograd on fixed patterns; torch's sparse products do not keep patterns.) Calling the
    object, ``prod(a_values, w, b_values)``, gives C's values ``(..., nnz)`` for values
    ``(..., nnz_A)``, ``(..., nnz_B)`` and w ``(..., n)`` (leading dimensions broadcast).

    Parameters
    ----------
    a_pattern, b_pattern : tuple
        ``(indptr (n+1,), indices (nnz,), n)`` CSC patterns of A and B.

    Raises
    ------
    ValueError
        If the two patterns have different sizes n.
    """

    def __init__(self, a_pattern, b_pattern):
        a_ptr, a_idx, n = a_pattern
        b_ptr, b_idx, n_b = b_pattern
        if n != n_b:
            raise ValueError(f"pattern sizes differ: {n} and {n_b}")
        a_ptr, b_ptr = np.asarray(a_ptr, np.int64), np.asarray(b_ptr, np.int64)
        a_idx, b_idx = np.asarray(a_idx, np.int64), np.asarray(b_idx, np.int64)
        da, db = np.diff(a_ptr), np.diff(b_ptr)
        cnt = da * db
        k = np.repeat(np.arange(n), cnt)
        t = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pa = a_ptr[k] + t // db[k]
        pb = b_ptr[k] + t % db[k]
        i, j = a_idx[pa], b_idx[pb]
        key = j * n + i  # CSC order: by column j, then row i
        uniq, pc = np.unique(key, return_inverse=True)
        cols, rows = uniq // n, uniq % n
        self.indptr = np.searchsorted(cols, np.arange(n + 1)).astype(np.int64)
        self.indices = rows.astype(np.int64)
        self.n = n
        self._pa, self._pb = torch.from_numpy(pa), torch.from_numpy(pb)
        self._k, self._pc = torch.from_numpy(k), torch.from_numpy(pc)

    @property
    def pattern(self):
        """C's CSC pattern.

        Returns
        -------
        tuple
            ``(indptr (n+1,), indices (nnz,), n)``, int64 arrays with sorted rows per column.
        """
        return self.indptr, self.indices, self.n

    @property
    def nnz(self) -> int:
        """Number of stored entries of C.

        Returns
        -------
        int
        """
        return len(self.indices)

    def __call__(self, a_values, w, b_values) -> torch.Tensor:
        """C's values ``(..., nnz)`` for values ``(..., nnz_A)``, ``(..., nnz_B)`` and
        w ``(..., n)`` (leading dimensions broadcast: a batch of products)."""
        contrib = a_values[..., self._pa] * w[..., self._k] * b_values[..., self._pb]
        return torch.zeros(contrib.shape[:-1] + (self.nnz,), dtype=contrib.dtype).index_add(
            -1, self._pc, contrib)


def _diag_positions(indptr, indices, n) -> np.ndarray:
    cols = np.repeat(np.arange(n), np.diff(indptr))
    pos = np.flatnonzero(indices == cols)
    if len(pos) != n:
        raise ValueError("the pattern does not contain the whole diagonal")
    return pos


def marginal_variance_factor(alpha: int, d: int) -> float:
    r"""The marginal-variance factor :math:`\Gamma(\nu) / (\Gamma(\alpha) (4\pi)^{d/2})`.

    With it, :math:`\sigma^2 = \mathrm{factor} / (\kappa^{2\nu} \tau^2 \sqrt{\det H})`,
    ν = α − d/2.

    Parameters
    ----------
    alpha : int
        SPDE order α.
    d : int
        Spatial dimension.

    Returns
    -------
    float
    """
    nu = alpha - d / 2.0
    return math.gamma(nu) / (math.gamma(alpha) * (4.0 * math.pi) ** (d / 2.0))


def rotated_diffusion(theta, ratio) -> torch.Tensor:
    r"""Anisotropic diffusion :math:`H = R(\theta)\, \mathrm{diag}(1, \lambda^2)\, R(\theta)^\top`.

    Diffusion 1 along θ and λ² across:
    ``[[c² + λ²s², (1 − λ²)cs], [(1 − λ²)cs, s² + λ²c²]]`` with c = cos θ, s = sin θ.

    Parameters
    ----------
    theta : float or torch.Tensor
        Angles θ, shape ``(...)``.
    ratio : float or torch.Tensor
        Ratios λ, shape ``(...)`` (broadcast with ``theta``).

    Returns
    -------
    torch.Tensor
        ``(..., 2, 2)`` float64 tensors, differentiable in both arguments.
    """
    theta = torch.as_tensor(theta, dtype=DTYPE)
    l2 = torch.as_tensor(ratio, dtype=DTYPE) ** 2
    c, s = torch.cos(theta), torch.sin(theta)
    off = (1 - l2) * c * s
    return torch.stack([torch.stack([c * c + l2 * s * s, off], -1),
                        torch.stack([off, s * s + l2 * c * c], -1)], -2)


def spde_param_specs(anisotropic: bool = False, kappa_field: Field | None = None,
                     tau_field: Field | None = None, angle_field: Field | None = None,
                     ratio_field: Field | None = None) -> list[Param]:
    """The parameters of :class:`MaternSPDE`.

    They are ``variance`` (or τ's field), ``range`` (or κ's field), and ``angle``, ``ratio``
    (or their fields) when anisotropic.

    Parameters
    ----------
    anisotropic : bool, default False
        Whether to include ``angle`` and ``ratio`` (implied by an angle or ratio field).
    kappa_field, tau_field, angle_field, ratio_field : Field or None, optional
        Parameter fields replacing ``range``, ``variance``, ``angle`` and ``ratio``.

    Returns
    -------
    list of fieldfit.params.Param
    """
    out = []
    if tau_field is None:
        out.append(Param("variance", positive, 1.0, doc="marginal variance σ²"))
    else:
        out += tau_field.param_specs()
    if kappa_field is None:
        out.append(Param("range", positive, 1.0, doc="range ℓ = 1/κ"))
    else:
        out += kappa_field.param_specs()
    if anisotropic or angle_field is not None or ratio_field is not None:
        out += (angle_field.param_specs() if angle_field is not None else
                [Param("angle", interval(-math.pi / 2, math.pi / 2), 0.0, doc="direction θ")])
        out += (ratio_field.param_specs() if ratio_field is not None else
                [Param("ratio", positive, 1.0, doc="range across / range along θ")])
    return out


class MaternSPDE:
    r"""Precision of the FEM weights of the Matérn SPDE (Lindgren, Rue & Lindström 2011).

    .. math::

        \tau(\kappa^2 - \nabla\cdot H\nabla)^{\alpha/2} x = \mathcal{W}

    The formulas of the discretisation are in the module docstring. Its parameters (DESIGN.md
    names) are ``variance`` σ², ``range`` ℓ = 1/κ, and with ``anisotropic=True`` (2-D)
    ``angle`` θ and ``ratio`` λ:
    :math:`H = R(\theta)\, \mathrm{diag}(1, \lambda^2)\, R(\theta)^\top`, i.e. range ℓ along θ
    and λℓ across, as :class:`~fieldfit.covariance.Anisotropic`. The smoothness ν = α − d/2 is
    fixed by the integer ``alpha`` (default 2: ν = 1 in 2-D, 3/2 in 1-D).

    Nonstationarity: ``kappa_field`` / ``tau_field`` are :class:`~fieldfit.spde.fields.Field`
    objects named ``kappa`` / ``tau``, evaluated at the nodes; they then replace ``range`` /
    ``variance`` (the fields' intercepts are κ and τ themselves). ``angle_field`` (identity
    link) / ``ratio_field`` (exp link), named ``angle`` / ``ratio``, give
    :math:`H(x) = R(\theta(x))\, \mathrm{diag}(1, \lambda(x)^2)\, R(\theta(x))^\top` per cell,
    evaluated at the cell centroids (Fuglstad et al. 2015); the marginal-variance formula then
    uses λ at the nodes.

    Parameters
    ----------
    mesh_or_fem : Mesh or FEM
        The mesh, or its finite elements.
    alpha : int, default 2
        SPDE order α; ν = α − d/2 must be positive.
    anisotropic : bool, default False
        Add ``angle`` and ``ratio`` (2-D only).
    kappa_field, tau_field, angle_field, ratio_field : Field or None, optional
        Parameter fields, named ``kappa``, ``tau``, ``angle`` (identity link) and ``ratio``
        (exp link).

    Raises
    ------
    ValueError
        If ``alpha`` is not a positive integer or gives ν ≤ 0, anisotropy is asked for outside
        2-D, a field is misnamed, or the angle/ratio field has the wrong link.

    References
    ----------
    Lindgren, F., Rue, H. & Lindström, J. (2011). An explicit link between Gaussian fields and
    Gaussian Markov random fields: the stochastic partial differential equation approach.
    JRSS-B 73, 423–498.

    Fuglstad, G.-A., Lindgren, F., Simpson, D. & Rue, H. (2015). Exploring a new class of
    non-stationary spatial Gaussian random fields with varying local anisotropy.
    Statistica Sinica 25, 115–133.
    """

    def __init__(self, mesh_or_fem, alpha: int = 2, anisotropic: bool = False,
                 kappa_field: Field | None = None, tau_field: Field | None = None,
                 angle_field: Field | None = None, ratio_field: Field | None = None):
        self.fem = mesh_or_fem if isinstance(mesh_or_fem, FEM) else FEM(mesh_or_fem)
        d = self.fem.dim
        if int(alpha) != alpha or alpha < 1:
            raise ValueError(f"alpha must be a positive integer, got {alpha}")
        if alpha - d / 2.0 <= 0:
            raise ValueError(f"alpha = {alpha} in {d}-D gives smoothness ν = α − d/2 ≤ 0: "
                             "not a Matérn field; use alpha ≥ 2 in 2-D")
        anisotropic = anisotropic or angle_field is not None or ratio_field is not None
        if anisotropic and d != 2:
            raise ValueError("anisotropy is implemented in 2-D")
        self.alpha, self.d, self.anisotropic = int(alpha), d, anisotropic
        self.kappa_field, self.tau_field = kappa_field, tau_field
        self.angle_field, self.ratio_field = angle_field, ratio_field
        for f, name in ((kappa_field, "kappa"), (tau_field, "tau"), (angle_field, "angle"),
                        (ratio_field, "ratio")):
            if f is not None and f.name != name:
                raise ValueError(f"the {name} field must be named {name!r}, got {f.name!r}")
        if angle_field is not None and angle_field.link != "identity":
            raise ValueError("the angle field needs the identity link")
        if ratio_field is not None and ratio_field.link != "exp":
            raise ValueError("the ratio field needs the exp link (λ > 0)")
        fem = self.fem
        base = (fem.indptr.astype(np.int64), fem.indices.astype(np.int64), fem.n_nodes)
        self._products, pattern = [], base
        for _ in range(self.alpha - 1):
            prod = PatternProduct(pattern, base)
            self._products.append(prod)
            pattern = prod.pattern
        self.indptr, self.indices, self.n = pattern
        self.shape = (self.n, self.n)
        cols = np.repeat(np.arange(self.n), np.diff(self.indptr))
        self._rows = torch.from_numpy(self.indices)
        self._cols = torch.from_numpy(cols)
        self._lumped = fem.lumped_mass_values()
        self._log_lumped_sum = float(torch.log(self._lumped).sum())
        self._k_gmrf: GMRF | None = None  # K's symbolic analysis, built on first use
        self._diag = torch.from_numpy(np.asarray(fem.diag_index, np.int64))
        nodes = fem.mesh.nodes
        self._kdesign = kappa_field.design(nodes) if kappa_field is not None else None
        self._tdesign = tau_field.design(nodes) if tau_field is not None else None
        self._centroids = fem.mesh.centroids
        self._adesign = angle_field.design(self._centroids) if angle_field is not None else None
        self._rdesign = ratio_field.design(self._centroids) if ratio_field is not None else None
        self._rndesign = ratio_field.design(nodes) if ratio_field is not None else None

    @property
    def smoothness(self) -> float:
        """Matérn smoothness ν = α − d/2.

        Returns
        -------
        float
        """
        return self.alpha - self.d / 2.0

    @property
    def nnz(self) -> int:
        """Number of stored entries of Q's pattern.

        Returns
        -------
        int
        """
        return len(self.indices)

    def param_specs(self) -> list[Param]:
        """The model's parameters (see :func:`spde_param_specs`).

        Returns
        -------
        list of fieldfit.params.Param
        """
        return spde_param_specs(self.anisotropic, self.kappa_field, self.tau_field,
                                self.angle_field, self.ratio_field)

    def H(self, p) -> torch.Tensor | None:
        """The diffusion tensor at the given parameters.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (``variance``, ``range``, ``angle``, ``ratio`` or the fields'
            weights), natural scale.

        Returns
        -------
        torch.Tensor or None
            ``(2, 2)``, or ``(M, 2, 2)`` per cell with angle / ratio fields; None for the
            identity (isotropic model).
        """
        if not self.anisotropic:
            return None
        if self.angle_field is None and self.ratio_field is None:
            return rotated_diffusion(p["angle"], p["ratio"])
        M = len(self._centroids)
        theta = (self.angle_field(self._centroids, p, self._adesign)
                 if self.angle_field is not None else p["angle"] * torch.ones(M, dtype=DTYPE))
        lam = (self.ratio_field(self._centroids, p, self._rdesign)
               if self.ratio_field is not None else p["ratio"] * torch.ones(M, dtype=DTYPE))
        return rotated_diffusion(theta, lam)

    def kappa(self, p) -> torch.Tensor:
        """κ at the nodes: the κ field, or 1/``range``.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (``variance``, ``range``, ``angle``, ``ratio`` or the fields'
            weights), natural scale.

        Returns
        -------
        torch.Tensor
            ``(N,)`` float64, differentiable.
        """
        if self.kappa_field is not None:
            return self.kappa_field(self.fem.mesh.nodes, p, self._kdesign)
        return torch.ones(self.n, dtype=DTYPE) / p["range"]

    def tau(self, p, kappa: torch.Tensor) -> torch.Tensor:
        """τ at the nodes; from σ² by the marginal-variance formula when there is no τ field.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (``variance``, ``range``, ``angle``, ``ratio`` or the fields'
            weights), natural scale.
        kappa : torch.Tensor
            ``(N,)`` κ at the nodes (from :meth:`kappa`).

        Returns
        -------
        torch.Tensor
            ``(N,)`` float64, differentiable.
        """
        if self.tau_field is not None:
            return self.tau_field(self.fem.mesh.nodes, p, self._tdesign)
        if self.ratio_field is not None:
            det = self.ratio_field(self.fem.mesh.nodes, p, self._rndesign) ** 2
        else:
            det = p["ratio"] ** 2 if self.anisotropic else torch.ones((), dtype=DTYPE)
        f = marginal_variance_factor(self.alpha, self.d)
        return torch.sqrt(f / (kappa ** (2 * self.smoothness) * p["variance"]
                               * torch.sqrt(det)))

    def _k_tau(self, p):
        kappa = self.kappa(p)
        K = self.fem.stiffness_values(self.H(p)).index_add(
            0, self._diag, kappa**2 * self._lumped)
        return K, self.tau(p, kappa)

    def _q_values(self, K, tau) -> torch.Tensor:
        inv_c = 1.0 / self._lumped
        M = K
        for prod in self._products:
            M = prod(M, inv_c, K)
        return tau[self._rows] * M * tau[self._cols]

    def precision_values(self, p) -> torch.Tensor:
        """Q's values on the pattern (``indptr``, ``indices``), differentiable.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (``variance``, ``range``, ``angle``, ``ratio`` or the fields'
            weights), natural scale.

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` float64 values.
        """
        return self._q_values(*self._k_tau(p))

    def precision_and_logdet(self, p) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Q's values and :math:`\log|Q|`, both differentiable.

        :math:`\log|Q|` comes from a sparse Cholesky factorisation of K (module docstring), its
        gradient from K's selected inverse; K's symbolic analysis is made on the first call.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (``variance``, ``range``, ``angle``, ``ratio`` or the fields'
            weights), natural scale.

        Returns
        -------
        values : torch.Tensor
            ``(nnz,)`` Q values.
        logdet : torch.Tensor
            0-d :math:`\log|Q|`.

        Raises
        ------
        ValueError
            If K is not positive definite.
        """
        K, tau = self._k_tau(p)
        if self._k_gmrf is None:
            self._k_gmrf = GMRF(Pattern(self.fem.indptr.astype(np.int64),
                                        self.fem.indices.astype(np.int64), self.fem.n_nodes))
        logdet = (2.0 * torch.log(tau).sum() + self.alpha * self._k_gmrf.factorize(K).logdet()
                  - (self.alpha - 1) * self._log_lumped_sum)
        return self._q_values(K, tau), logdet

    def precision(self, p) -> sp.csc_matrix:
        """Q as a scipy sparse matrix.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (``variance``, ``range``, ``angle``, ``ratio`` or the fields'
            weights), natural scale.

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(N, N)`` precision.
        """
        v = self.precision_values(p).detach().numpy()
        return sp.csc_matrix((v, self.indices, self.indptr), shape=self.shape)

    def __repr__(self):
        return (f"MaternSPDE(alpha={self.alpha}, nodes={self.n}, anisotropic={self.anisotropic}"
                f", kappa_field={self.kappa_field!r}, tau_field={self.tau_field!r}, "
                f"angle_field={self.angle_field!r}, ratio_field={self.ratio_field!r})")


__all__ = ["MaternSPDE", "PatternProduct", "marginal_variance_factor", "spde_param_specs"]
