r"""P1 finite-element matrices on a Mesh, assembled vectorised, with differentiable value maps.

For the hat functions φᵢ of a Mesh (Lindgren, Rue & Lindström 2011, JRSS-B 73, 423–498,
section 2.3 and appendix A.2)::

    C_ij = ∫ φᵢ φⱼ                 consistent mass          (weighted: ∫ w φᵢ φⱼ)
    C̃_ii = Σⱼ C_ij = ∫ φᵢ          lumped mass (diagonal)    (weighted: Σⱼ C(w)_ij = ∫ w φᵢ)
    G_ij = ∫ ∇φᵢ · H ∇φⱼ           stiffness, H (d, d) SPD, constant or one per cell
    B_ij = ∫ φᵢ (v · ∇φⱼ)          advection, v (d,), constant or one per cell

Per cell e (volume :math:`|T_e|`, barycentric gradients :math:`g_a = \nabla\lambda_a`,
``Mesh.barycentric_gradients``)::

    C_e[a,b] = |T_e| (1 + δ_ab) / ((d+1)(d+2))
    G_e[a,b] = |T_e| g_aᵀ H_e g_b
    B_e[a,b] = |T_e|/(d+1) · v_e·g_b
    ∫_e w λ_a λ_b = |T_e| Σ_c w_c d! α! / (d+3)!     (node weights w, interpolated linearly;
                                                      α the multiplicities of (a, b, c))

**The sparse convention** (shared with ``fieldfit.gmrf``): a sparse symmetric matrix is a fixed
scipy CSC pattern — ``indptr (N+1,)``, ``indices (nnz,)`` int32, ``shape (N, N)``, full
symmetric storage (both triangles), indices sorted within each column, no duplicates
(canonical) — plus a torch float64 values vector ``(nnz,)`` aligned with ``indices``. One
``FEM`` has one pattern, the union of the couplings of the cells (i ~ j when i and j share a
cell) and the diagonal: C, G, B and any sum of them have it, so a precision such as
κ²C̃ + G is a sum of value vectors. Entries that happen to vanish (G on right-angled
triangles) are kept as explicit zeros. ``FEM.diag_index`` gives the positions of the diagonal,
``FEM.to_csc(values)`` the scipy matrix.

The values are linear in the per-cell parameters: ``G_values = S_G @ H.reshape(-1)``,
``B_values = S_B @ v.reshape(-1)``, ``C(w)_values = S_C @ w``. The maps S are available as
scipy CSR matrices (``stiffness_map`` …); the torch methods (``stiffness_values`` …) compute
the same products in factorised form — a per-cell contraction, then a scatter-add of the
(M, d+1, d+1) local matrices into the nnz values (the product with the 0/1 assembly matrix),
— which is differentiable by autograd and costs O(M (d+1)² d²) without storing S.
"""

from __future__ import annotations

import math
from functools import cached_property
from itertools import product

import numba
import numpy as np
import scipy.sparse as sp
import torch

from .mesh import Mesh

__all__ = ["FEM"]


@numba.njit(cache=True)
def _csc_pattern(cells, n):  # pragma: no cover - compiled
    """Canonical CSC pattern of the cell couplings and, for each local entry (e, a, b), the
    position in ``indices`` of the global entry (row cells[e, a], column cells[e, b])."""
    m, k = cells.shape
    start = np.zeros(n + 1, np.int64)
    for e in range(m):
        for a in range(k):
            start[cells[e, a] + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    inc = np.empty(m * k, np.int64)  # incidences e*k + b, grouped by node
    fill = start[:-1].copy()
    for e in range(m):
        for b in range(k):
            j = cells[e, b]
            inc[fill[j]] = e * k + b
            fill[j] += 1
    stamp = np.full(n, -1, np.int64)
    where = np.empty(n, np.int64)
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(m * k * k, np.int64)
    pos = np.empty((m, k, k), np.int64)
    nnz = 0
    for j in range(n):
        first = nnz
        for t in range(start[j], start[j + 1]):
            e = inc[t] // k
            for a in range(k):
                i = cells[e, a]
                if stamp[i] != j:
                    stamp[i] = j
                    indices[nnz] = i
                    nnz += 1
        indices[first:nnz] = np.sort(indices[first:nnz])
        for p in range(first, nnz):
            where[indices[p]] = p
        for t in range(start[j], start[j + 1]):
            e = inc[t] // k
            b = inc[t] - e * k
            for a in range(k):
                pos[e, a, b] = where[cells[e, a]]
        indptr[j + 1] = nnz
    return indptr, indices[:nnz].copy(), pos


def _triple_integrals(d: int) -> np.ndarray:
    """``(d+1, d+1, d+1)``: ∫_T λ_a λ_b λ_c / |T| = d! α! / (d+3)!."""
    k = d + 1
    T = np.empty((k, k, k))
    for a, b, c in product(range(k), repeat=3):
        mult = np.bincount([a, b, c], minlength=k)
        T[a, b, c] = math.factorial(d) * np.prod([math.factorial(m) for m in mult])
    return T / math.factorial(d + 3)


class FEM:
    r"""P1 finite elements on a ``Mesh``: mass, stiffness and advection matrices.

    .. math::

        C_{ij} = \int \varphi_i \varphi_j, \qquad
        G_{ij} = \int \nabla\varphi_i \cdot H \nabla\varphi_j, \qquad
        B_{ij} = \int \varphi_i\, v \cdot \nabla\varphi_j

    (Lindgren, Rue & Lindström 2011, JRSS-B, appendix A.2; formulas in the module docstring).

    Built once per mesh: the CSC pattern (``indptr``, ``indices``, ``shape``, ``nnz``,
    ``diag_index``) and the assembly positions ``positions (M, d+1, d+1)`` (index into the nnz
    values of local entry (a, b) of cell e). Then:

    - scipy matrices (CSC, on the pattern): ``mass(weights, on)``, ``stiffness(H)``,
      ``advection(v)``; ``lumped_mass(weights, on)`` gives ``(N,)``.
    - torch values ``(nnz,)``, differentiable: ``mass_values``, ``stiffness_values``,
      ``advection_values``; ``lumped_mass_values`` gives ``(N,)``.
    - linear maps (scipy CSR): ``mass_map(on)`` ``(nnz, N)`` or ``(nnz, M)``, ``stiffness_map``
      ``(nnz, M·d·d)``, ``advection_map`` ``(nnz, M·d)``, ``lumped_mass_map(on)``.

    Weights are per node (``on="nodes"``, ``(N,)``, interpolated linearly) or per cell
    (``on="cells"``, ``(M,)``); H is ``(d, d)`` or ``(M, d, d)`` (None: the identity); v is
    ``(d,)`` or ``(M, d)``.

    Parameters
    ----------
    mesh : fieldfit.spde.mesh.Mesh
        The simplicial mesh (N nodes, M cells, dimension d).

    Raises
    ------
    TypeError
        If ``mesh`` is not a ``Mesh``.
    """

    def __init__(self, mesh: Mesh):
        if not isinstance(mesh, Mesh):
            raise TypeError(f"FEM needs a Mesh, got {type(mesh).__name__}")
        self.mesh = mesh
        n, d = mesh.n_nodes, mesh.dim
        indptr, indices, pos = _csc_pattern(mesh.cells, n)
        idx = np.int32 if indices.size < 2**31 - 1 else np.int64
        self.indptr = indptr.astype(idx)
        self.indices = indices.astype(idx)
        self.shape = (n, n)
        self.positions = pos
        k = d + 1
        some = np.empty(n, dtype=np.int64)  # for each node, one (cell, local index) holding it
        some[mesh.cells.ravel()] = np.arange(mesh.cells.size)
        self.diag_index = pos[some // k, some % k, some % k]  # (N,) positions of the diagonal
        self.dim = d
        self.volumes = mesh.cell_volumes
        self.gradients = mesh.barycentric_gradients  # (M, d+1, d)
        self._ref_mass = (np.ones((k, k)) + np.eye(k)) / (k * (k + 1))

    @property
    def nnz(self) -> int:
        """Number of stored entries of the pattern (both triangles, diagonal included).

        Returns
        -------
        int
        """
        return int(self.indices.size)

    @property
    def n_nodes(self) -> int:
        """Number of mesh nodes N (the matrices are ``(N, N)``).

        Returns
        -------
        int
        """
        return self.shape[0]

    def __repr__(self) -> str:
        return f"FEM(n_nodes={self.n_nodes}, n_cells={self.mesh.n_cells}, nnz={self.nnz})"

    def to_csc(self, values) -> sp.csc_matrix:
        """The scipy CSC matrix with this pattern and the given values.

        Parameters
        ----------
        values : array_like or torch.Tensor
            ``(nnz,)`` values aligned with ``indices`` (a torch tensor is detached).

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(N, N)`` matrix with sorted indices.

        Raises
        ------
        ValueError
            If ``values`` is not of shape ``(nnz,)``.
        """
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.nnz,):
            raise ValueError(f"values must have shape ({self.nnz},), got {values.shape}")
        A = sp.csc_matrix((values, self.indices, self.indptr), shape=self.shape)
        A.has_sorted_indices = True
        return A

    # ------------------------------------------------------------------ numpy assembly
    def _scatter(self, local: np.ndarray) -> np.ndarray:
        return np.bincount(self.positions.ravel(), weights=local.ravel(), minlength=self.nnz)

    def mass_local(self, weights=None, on: str = "nodes") -> np.ndarray:
        r"""Local mass matrices :math:`\int_e w \lambda_a \lambda_b` of every cell (numpy).

        Parameters
        ----------
        weights : float or array_like or torch.Tensor or None, optional
            Weight w per node ``(N,)`` (interpolated linearly) or per cell ``(M,)``, or a scalar;
            None for no weight (w = 1).
        on : {"nodes", "cells"}, default "nodes"
            Where ``weights`` live.

        Returns
        -------
        numpy.ndarray
            ``(M, d+1, d+1)`` local matrices.

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells", or ``weights`` has the wrong shape.
        """
        w = self._weights(weights, on, np)
        vol = self.volumes
        if w is None:
            return vol[:, None, None] * self._ref_mass
        if on == "cells":
            return (w * vol)[:, None, None] * self._ref_mass
        T = _triple_integrals(self.dim)
        return vol[:, None, None] * np.einsum("abc,ec->eab", T, w[self.mesh.cells])

    def mass(self, weights=None, on: str = "nodes") -> sp.csc_matrix:
        r"""Mass C, or the weighted :math:`C(w)_{ij} = \int w \varphi_i \varphi_j`, as CSC.

        Parameters
        ----------
        weights : float or array_like or torch.Tensor or None, optional
            Weight w per node ``(N,)`` (interpolated linearly) or per cell ``(M,)``, or a scalar;
            None for no weight (w = 1).
        on : {"nodes", "cells"}, default "nodes"
            Where ``weights`` live.

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(N, N)`` on the pattern.

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells", or ``weights`` has the wrong shape.
        """
        return self.to_csc(self._scatter(self.mass_local(weights, on)))

    def lumped_mass(self, weights=None, on: str = "nodes") -> np.ndarray:
        r"""Lumped mass :math:`\tilde C_{ii} = \int w \varphi_i`, the row sums of ``mass``.

        This is :math:`C w` for node weights, :math:`\sum_{e \ni i} w_e |T_e|/(d+1)` for cell
        weights and :math:`\int \varphi_i` without weights.

        Parameters
        ----------
        weights : float or array_like or torch.Tensor or None, optional
            Weight w per node ``(N,)`` (interpolated linearly) or per cell ``(M,)``, or a scalar;
            None for no weight (w = 1).
        on : {"nodes", "cells"}, default "nodes"
            Where ``weights`` live.

        Returns
        -------
        numpy.ndarray
            ``(N,)`` diagonal.

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells", or ``weights`` has the wrong shape.
        """
        local = self.mass_local(weights, on).sum(2)  # (M, d+1)
        return np.bincount(self.mesh.cells.ravel(), weights=local.ravel(),
                           minlength=self.n_nodes)

    def stiffness_local(self, H=None) -> np.ndarray:
        r"""Local stiffness matrices :math:`|T_e|\, g_a^\top H_e g_b` of every cell (numpy).

        Parameters
        ----------
        H : array_like or torch.Tensor or None, optional
            Diffusion tensor ``(d, d)`` (constant) or ``(M, d, d)`` (one per cell); None for the
            identity.

        Returns
        -------
        numpy.ndarray
            ``(M, d+1, d+1)`` local matrices.

        Raises
        ------
        ValueError
            If ``H`` is not ``(d, d)`` or ``(M, d, d)``.
        """
        g, vol = self.gradients, self.volumes
        H = self._tensor(H, np)
        if H is None:
            gH = g
        elif H.ndim == 2:
            gH = g @ H.T  # (M, d+1, d): rows (H g_a)ᵀ
        else:
            gH = np.einsum("epq,eaq->eap", H, g)
        loc = sum(gH[:, :, p, None] * g[:, None, :, p] for p in range(self.dim))
        return vol[:, None, None] * loc

    def stiffness(self, H=None) -> sp.csc_matrix:
        r"""Stiffness :math:`G_{ij} = \int \nabla\varphi_i \cdot H \nabla\varphi_j`, as CSC.

        Parameters
        ----------
        H : array_like or torch.Tensor or None, optional
            Diffusion tensor ``(d, d)`` (constant) or ``(M, d, d)`` (one per cell); None for the
            identity.

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(N, N)`` symmetric matrix on the pattern.

        Raises
        ------
        ValueError
            If ``H`` is not ``(d, d)`` or ``(M, d, d)``.
        """
        return self.to_csc(self._scatter(self.stiffness_local(H)))

    def advection_local(self, v) -> np.ndarray:
        r"""Local advection matrices :math:`|T_e|/(d+1)\; v_e \cdot g_b` of every cell (numpy).

        Parameters
        ----------
        v : array_like or torch.Tensor
            Velocity ``(d,)`` (constant) or ``(M, d)`` (one per cell).

        Returns
        -------
        numpy.ndarray
            ``(M, d+1, d+1)`` local matrices (a read-only broadcast view; rows are equal).

        Raises
        ------
        ValueError
            If ``v`` is not ``(d,)`` or ``(M, d)``.
        """
        v = self._velocity(v, np)
        vg = np.einsum("ebp,p->eb", self.gradients, v) if v.ndim == 1 else \
            np.einsum("ebp,ep->eb", self.gradients, v)
        loc = (self.volumes / (self.dim + 1))[:, None] * vg
        return np.broadcast_to(loc[:, None, :], self.positions.shape)

    def advection(self, v) -> sp.csc_matrix:
        r"""Advection :math:`B_{ij} = \int \varphi_i\, (v \cdot \nabla\varphi_j)`, as CSC.

        Parameters
        ----------
        v : array_like or torch.Tensor
            Velocity ``(d,)`` (constant) or ``(M, d)`` (one per cell).

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(N, N)`` matrix on the pattern (not symmetric).

        Raises
        ------
        ValueError
            If ``v`` is not ``(d,)`` or ``(M, d)``.
        """
        return self.to_csc(self._scatter(self.advection_local(v)))

    # ------------------------------------------------------------------ linear maps
    def _map(self, vals, cols, n_cols) -> sp.csr_matrix:
        """CSR ``(nnz, n_cols)`` from coefficients vals[e, a, b, j] in columns cols[e, a, b, j]."""
        rows = np.broadcast_to(self.positions[..., None], vals.shape)
        cols = np.broadcast_to(cols, vals.shape)
        S = sp.coo_matrix((vals.ravel(), (rows.ravel(), cols.ravel())),
                          shape=(self.nnz, n_cols)).tocsr()
        S.sum_duplicates()
        return S

    def mass_map(self, on: str = "nodes") -> sp.csr_matrix:
        """The linear map :math:`S_C` with ``C(w)`` values :math:`= S_C w`.

        Parameters
        ----------
        on : {"nodes", "cells"}, default "nodes"
            Whether w is per node or per cell.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(nnz, N)`` (node weights) or ``(nnz, M)`` (cell weights).

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells".
        """
        self._check_on(on)
        m, vol = self.mesh.n_cells, self.volumes
        if on == "cells":
            vals = (vol[:, None, None] * self._ref_mass)[..., None]
            cols = np.arange(m)[:, None, None, None]
            return self._map(vals, cols, m)
        T = _triple_integrals(self.dim)
        vals = vol[:, None, None, None] * T[None]
        cols = self.mesh.cells[:, None, None, :]
        return self._map(vals, cols, self.n_nodes)

    def lumped_mass_map(self, on: str = "nodes") -> sp.csr_matrix:
        """The linear map L with ``lumped_mass(w, on) = L @ w``.

        Parameters
        ----------
        on : {"nodes", "cells"}, default "nodes"
            Whether w is per node or per cell.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(N, N)`` or ``(N, M)``.

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells".
        """
        self._check_on(on)
        S = self.mass_map(on)
        rows = self.indices[np.repeat(np.arange(self.nnz), np.diff(S.indptr))]
        L = sp.csr_matrix((S.data, (rows, S.indices)), shape=(self.n_nodes, S.shape[1]))
        L.sum_duplicates()
        return L

    @cached_property
    def stiffness_map(self) -> sp.csr_matrix:
        r"""The linear map :math:`S_G`: ``G(H)`` values ``= S_G @ H.reshape(-1)``, H ``(M, d, d)``.

        Entry ``(pos(e, a, b), e·d² + p·d + q)`` is :math:`|T_e|\, g_a[p]\, g_b[q]`; it holds
        :math:`M (d+1)^2 d^2` entries. Computed once and cached.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(nnz, M·d·d)``.
        """
        g, vol = self.gradients, self.volumes
        m, d = self.mesh.n_cells, self.dim
        vals = vol[:, None, None, None, None] * g[:, :, None, :, None] * g[:, None, :, None, :]
        cols = (np.arange(m)[:, None, None] * d * d + np.arange(d * d).reshape(d, d))
        return self._map(vals.reshape(m, d + 1, d + 1, d * d),
                         cols.reshape(m, 1, 1, d * d), m * d * d)

    @cached_property
    def advection_map(self) -> sp.csr_matrix:
        r"""The linear map :math:`S_B` with ``B(v)`` values ``= S_B @ v.reshape(-1)``, v ``(M, d)``.

        Entry ``(pos(e, a, b), e·d + p)`` is :math:`|T_e|/(d+1)\, g_b[p]`. Computed once and
        cached.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(nnz, M·d)``.
        """
        g, vol = self.gradients, self.volumes
        m, d = self.mesh.n_cells, self.dim
        vals = (vol / (d + 1))[:, None, None, None] * np.broadcast_to(
            g[:, None, :, :], (m, d + 1, d + 1, d))
        cols = np.arange(m)[:, None, None, None] * d + np.arange(d)
        return self._map(vals, cols, m * d)

    # ------------------------------------------------------------------ torch value maps
    @cached_property
    def _torch(self) -> dict:
        return {
            "pos": torch.from_numpy(self.positions.reshape(-1).copy()),
            "cells": torch.from_numpy(self.mesh.cells.copy()),
            "vol": torch.from_numpy(self.volumes.copy()),
            "g": torch.from_numpy(self.gradients.copy()),
            "ref": torch.from_numpy(self._ref_mass),
            "T": torch.from_numpy(_triple_integrals(self.dim)),
        }

    @cached_property
    def _mass_values(self) -> torch.Tensor:
        return torch.from_numpy(self._scatter(self.mass_local()))

    @cached_property
    def _stiffness_basis(self) -> torch.Tensor:
        """``(nnz, d·d)``: the values of G for H = E_pq, column p·d + q."""
        g, vol, d = self.gradients, self.volumes, self.dim
        cols = [self._scatter(vol[:, None, None] * g[:, :, p, None] * g[:, None, :, q])
                for p, q in product(range(d), repeat=2)]
        return torch.from_numpy(np.stack(cols, 1))

    @cached_property
    def _advection_basis(self) -> torch.Tensor:
        """``(nnz, d)``: the values of B for v = e_p."""
        return torch.from_numpy(np.stack(
            [self._scatter(self.advection_local(e)) for e in np.eye(self.dim)], 1))

    def _scatter_t(self, local: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.nnz, dtype=local.dtype, device=local.device)
        return out.index_add(0, self._torch["pos"].to(local.device), local.reshape(-1))

    def mass_values(self, weights=None, on: str = "nodes") -> torch.Tensor:
        """Values of the (weighted) mass matrix ``C(w) = S_C w``, differentiable in ``weights``.

        Parameters
        ----------
        weights : float or array_like or torch.Tensor or None, optional
            Weight w per node ``(N,)`` (interpolated linearly) or per cell ``(M,)``, or a scalar;
            None for no weight (w = 1).
        on : {"nodes", "cells"}, default "nodes"
            Where ``weights`` live.

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` float64 values on the pattern.

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells", or ``weights`` has the wrong shape.
        """
        t = self._torch
        w = self._weights(weights, on, torch)
        if w is None:
            return self._mass_values.clone()
        if on == "cells":
            return self._scatter_t((w * t["vol"])[:, None, None] * t["ref"])
        local = torch.einsum("abc,ec->eab", t["T"], w[t["cells"]]) * t["vol"][:, None, None]
        return self._scatter_t(local)

    def lumped_mass_values(self, weights=None, on: str = "nodes") -> torch.Tensor:
        r"""Lumped (row-sum) mass :math:`\int w \varphi_i`, differentiable in ``weights``.

        To add it to values on the pattern: ``values.index_add(0, diag_index, lumped)``.

        Parameters
        ----------
        weights : float or array_like or torch.Tensor or None, optional
            Weight w per node ``(N,)`` (interpolated linearly) or per cell ``(M,)``, or a scalar;
            None for no weight (w = 1).
        on : {"nodes", "cells"}, default "nodes"
            Where ``weights`` live.

        Returns
        -------
        torch.Tensor
            ``(N,)`` float64 diagonal.

        Raises
        ------
        ValueError
            If ``on`` is not "nodes" or "cells", or ``weights`` has the wrong shape.
        """
        t = self._torch
        w = self._weights(weights, on, torch)
        k = self.dim + 1
        if w is None:
            w, on = torch.ones(self.mesh.n_cells, dtype=torch.float64), "cells"
        if on == "cells":
            local = (w * t["vol"] / k)[:, None].expand(-1, k)
        else:  # ∫_e w λ_a = |T_e| Σ_c w_c (1 + δ_ac)/((d+1)(d+2))
            local = (w[t["cells"]] @ t["ref"]) * t["vol"][:, None]
        out = torch.zeros(self.n_nodes, dtype=local.dtype)
        return out.index_add(0, t["cells"].reshape(-1), local.reshape(-1))

    def stiffness_values(self, H=None) -> torch.Tensor:
        """Values of the stiffness matrix ``G(H) = S_G H``, differentiable in ``H``.

        Parameters
        ----------
        H : array_like or torch.Tensor or None, optional
            Diffusion tensor ``(d, d)`` (constant) or ``(M, d, d)`` (one per cell); None for the
            identity.

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` float64 values on the pattern.

        Raises
        ------
        ValueError
            If ``H`` is not ``(d, d)`` or ``(M, d, d)``.
        """
        t = self._torch
        H = self._tensor(H, torch)
        if H is None:
            return self._stiffness_basis[:, :: self.dim + 1].sum(1)
        if H.ndim == 2:
            return self._stiffness_basis @ H.reshape(-1)
        local = torch.einsum("eap,epq,ebq->eab", t["g"], H, t["g"]) * t["vol"][:, None, None]
        return self._scatter_t(local)

    def advection_values(self, v) -> torch.Tensor:
        """Values of the advection matrix ``B(v) = S_B v``, differentiable in ``v``.

        Parameters
        ----------
        v : array_like or torch.Tensor
            Velocity ``(d,)`` (constant) or ``(M, d)`` (one per cell).

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` float64 values on the pattern.

        Raises
        ------
        ValueError
            If ``v`` is not ``(d,)`` or ``(M, d)``.
        """
        t = self._torch
        v = self._velocity(v, torch)
        if v.ndim == 1:
            return self._advection_basis @ v
        vg = torch.einsum("ebp,ep->eb", t["g"], v) * (t["vol"] / (self.dim + 1))[:, None]
        return self._scatter_t(vg[:, None, :].expand(-1, self.dim + 1, -1))

    # ------------------------------------------------------------------ argument checks
    @staticmethod
    def _check_on(on):
        if on not in ("nodes", "cells"):
            raise ValueError(f"on must be 'nodes' or 'cells', got {on!r}")

    def _as(self, x, lib, name):
        if lib is torch:
            return x.to(torch.float64) if isinstance(x, torch.Tensor) else \
                torch.as_tensor(np.asarray(x, dtype=np.float64))
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float64)

    def _weights(self, w, on, lib):
        self._check_on(on)
        if w is None:
            return None
        w = self._as(w, lib, "weights")
        n = self.n_nodes if on == "nodes" else self.mesh.n_cells
        if w.ndim == 0:
            w = w * (lib.ones(n, dtype=w.dtype) if lib is torch else np.ones(n))
        if tuple(w.shape) != (n,):
            raise ValueError(f"weights on {on} must have shape ({n},), got {tuple(w.shape)}")
        return w

    def _tensor(self, H, lib):
        if H is None:
            return None
        H = self._as(H, lib, "H")
        d, m = self.dim, self.mesh.n_cells
        if H.ndim == 0 and d == 1:
            H = H.reshape(1, 1)
        if tuple(H.shape) not in ((d, d), (m, d, d)):
            raise ValueError(f"H must have shape ({d}, {d}) or ({m}, {d}, {d}), "
                             f"got {tuple(H.shape)}")
        return H

    def _velocity(self, v, lib):
        v = self._as(v, lib, "v")
        d, m = self.dim, self.mesh.n_cells
        if v.ndim == 0 and d == 1:
            v = v.reshape(1)
        if tuple(v.shape) not in ((d,), (m, d)):
            raise ValueError(f"v must have shape ({d},) or ({m}, {d}), got {tuple(v.shape)}")
        return v


