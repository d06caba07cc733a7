"""Simplicial meshes for the SPDE approach: intervals in 1-D, triangles in 2-D.

A mesh is ``nodes (N, d)`` and ``cells (M, d+1)`` (indices into nodes), positively oriented. A
field on the mesh is a vector of values at the nodes, interpolated linearly in each cell
(barycentric coordinates λ): x(s) = Σᵢ xᵢ φᵢ(s), with φᵢ the P1 hat functions. The projector
A ``(n, N)`` evaluates such a field at n points, x(s) = A x (Lindgren, Rue & Lindström 2011,
JRSS-B 73, 423–498, section 2.3 and appendix A).

``Mesh.from_points`` follows R-INLA's ``inla.mesh.2d`` / fmesher (Lindgren et al. 2024,
"The SPDE approach for Gaussian and non-Gaussian fields: 10 years and still running",
Spatial Statistics 50, 100599, section 2 on mesh construction): the data points are nodes,
the convex hull of the data is an inner domain meshed finely, an extension by an ``offset``
is meshed coarsely to push the boundary effects of the SPDE away from the data, and
Shewchuk's Triangle refines both to a minimum angle and a maximum triangle size.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import triangle
from scipy.spatial import ConvexHull, QhullError, cKDTree

__all__ = ["Mesh"]

# relative tolerance on barycentric coordinates: points this far outside a cell count as in it
_BARY_TOL = 1e-10
# a cell whose volume is below this fraction of (longest edge)^d is degenerate
_DEGENERATE = 1e-10


def _as_float_array(x, name: str, ndim: int) -> np.ndarray:
    a = np.array(x, dtype=np.float64, copy=True)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f"{name} has non-finite values (NaN or inf) at rows {_first(rows)}")
    return a


def _first(idx, k: int = 10) -> str:
    idx = np.asarray(idx)
    s = ", ".join(str(int(i)) for i in idx[:k])
    return f"[{s}{', ...' if idx.size > k else ''}] ({idx.size} in all)"


def _increasing(x, name: str) -> np.ndarray:
    a = _as_float_array(x, name, 1)
    if a.size < 2:
        raise ValueError(f"{name} needs at least 2 values, got {a.size}")
    bad = np.nonzero(np.diff(a) <= 0)[0]
    if bad.size:
        raise ValueError(f"{name} must be strictly increasing; it is not after positions "
                         f"{_first(bad)}")
    return a


class Mesh:
    r"""A simplicial mesh: ``nodes (N, d)`` float64 and ``cells (M, d+1)`` int64, d ∈ {1, 2, 3}.

    Cell e with vertices :math:`p_0, \dots, p_d` has the Jacobian
    :math:`J_e = [p_1 - p_0, \dots, p_d - p_0]` ``(d, d)`` and volume
    :math:`|T_e| = \det(J_e)/d! > 0` (positive orientation: counter-clockwise triangles,
    segments from left to right); barycentric coordinates
    :math:`(\lambda_1, \dots, \lambda_d) = J_e^{-1}(s - p_0)`,
    :math:`\lambda_0 = 1 - \sum_k \lambda_k` (Lindgren, Rue & Lindström 2011, appendix A).

    Validated on construction: finite nodes, indices in range, every node used by some cell, no
    degenerate cell (volume ≤ 1e-10·(longest edge)^d), positive orientation (``reorient=True``
    flips negatively oriented cells instead of raising). Conformity (no overlapping cells, no
    hanging nodes) is the constructor's responsibility; ``edges`` and ``boundary_nodes``
    check that no facet is shared by more than two cells. The arrays are read-only.

    Constructors: ``Mesh.grid(x, y)``, ``Mesh.interval(a, b, n)``, ``Mesh.line(x)``,
    ``Mesh.from_points(points, ...)``.

    Parameters
    ----------
    nodes : array_like
        ``(N, d)`` coordinates (``(N,)`` is read as 1-D).
    cells : array_like
        ``(M, d+1)`` integer node indices.
    reorient : bool, default False
        Flip negatively oriented cells instead of raising.

    Raises
    ------
    ValueError
        If the shapes are wrong, a coordinate is not finite, an index is out of range or not an
        integer, a node belongs to no cell, a cell is degenerate, or (without ``reorient``) a
        cell is negatively oriented.
    """

    def __init__(self, nodes, cells, *, reorient: bool = False):
        nodes = np.array(nodes, dtype=np.float64, copy=True)
        if nodes.ndim == 1:
            nodes = nodes[:, None]
        if nodes.ndim != 2 or nodes.shape[1] not in (1, 2, 3):
            raise ValueError(f"nodes must have shape (N, d) with d in 1, 2, 3; got {nodes.shape}")
        bad = ~np.isfinite(nodes).all(axis=1)
        if bad.any():
            rows = _first(np.nonzero(bad)[0])
            raise ValueError(f"nodes has non-finite coordinates at rows {rows}")
        d = nodes.shape[1]
        cells_in = np.asarray(cells)
        if cells_in.ndim != 2 or cells_in.shape[1] != d + 1:
            raise ValueError(f"cells must have shape (M, {d + 1}) for {d}-D nodes; "
                             f"got {cells_in.shape}")
        if cells_in.shape[0] == 0:
            raise ValueError("a mesh needs at least one cell")
        if not np.issubdtype(cells_in.dtype, np.integer):
            if not (np.isfinite(cells_in).all() and (cells_in == np.round(cells_in)).all()):
                raise ValueError("cells must hold integer node indices")
        cells = np.array(cells_in, dtype=np.int64, copy=True)
        n = nodes.shape[0]
        out = (cells < 0) | (cells >= n)
        if out.any():
            raise ValueError(f"cells refer to nodes outside 0..{n - 1} in cells "
                             f"{_first(np.unique(np.nonzero(out)[0]))}")
        used = np.bincount(cells.ravel(), minlength=n) > 0
        if not used.all():
            raise ValueError(f"nodes {_first(np.nonzero(~used)[0])} belong to no cell")
        det, longest2 = _det_and_longest_edge(nodes, cells)
        degenerate = np.abs(det) <= _DEGENERATE * longest2 ** (d / 2)
        if degenerate.any():
            raise ValueError(f"degenerate cells (zero volume) {_first(np.nonzero(degenerate)[0])}")
        negative = det < 0
        if negative.any():
            if not reorient:
                raise ValueError(f"cells {_first(np.nonzero(negative)[0])} are negatively "
                                 "oriented (clockwise); pass reorient=True to flip them")
            cells[negative, :2] = cells[negative, 1::-1]
            det = np.abs(det)
        self._det = det
        self._longest = np.sqrt(longest2)
        self.nodes = nodes
        self.cells = cells
        self.nodes.setflags(write=False)
        self.cells.setflags(write=False)
        self._det.setflags(write=False)
        self._longest.setflags(write=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def grid(cls, x, y) -> Mesh:
        """Triangulation of the rectilinear grid x ⊗ y.

        The mesh has ``len(x)·len(y)`` nodes, node ``j·len(x) + i`` at ``(x[i], y[j])`` (x
        fastest, as ``np.meshgrid(x, y)`` raveled), and 2 triangles per grid cell split along the
        diagonal from ``(x[i], y[j])`` to ``(x[i+1], y[j+1])``.

        Parameters
        ----------
        x, y : array_like
            Strictly increasing coordinates, at least 2 values each.

        Returns
        -------
        Mesh
            A 2-D mesh.

        Raises
        ------
        ValueError
            If ``x`` or ``y`` is not finite, has fewer than 2 values or is not strictly increasing.
        """
        x = _increasing(x, "x")
        y = _increasing(y, "y")
        nx, ny = x.size, y.size
        X, Y = np.meshgrid(x, y)
        nodes = np.column_stack([X.ravel(), Y.ravel()])
        i, j = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1))
        a = (j * nx + i).ravel()
        b, c, dd = a + 1, a + nx + 1, a + nx
        cells = np.empty((2 * a.size, 3), dtype=np.int64)
        cells[0::2] = np.column_stack([a, b, c])
        cells[1::2] = np.column_stack([a, c, dd])
        return cls(nodes, cells)

    @classmethod
    def line(cls, x) -> Mesh:
        """1-D mesh with nodes at ``x`` and segments (k, k+1).

        Parameters
        ----------
        x : array_like
            ``(N,)`` strictly increasing coordinates, N ≥ 2.

        Returns
        -------
        Mesh
            A 1-D mesh.

        Raises
        ------
        ValueError
            If ``x`` is not finite, has fewer than 2 values or is not strictly increasing.
        """
        x = _increasing(x, "x")
        k = np.arange(x.size - 1)
        return cls(x[:, None], np.column_stack([k, k + 1]))

    @classmethod
    def interval(cls, a: float, b: float, n: int) -> Mesh:
        """1-D mesh of [a, b] with ``n`` equally spaced nodes (n − 1 segments of (b−a)/(n−1)).

        Parameters
        ----------
        a, b : float
            Finite ends, a < b.
        n : int
            Number of nodes, at least 2.

        Returns
        -------
        Mesh
            A 1-D mesh.

        Raises
        ------
        ValueError
            If the ends are not finite with a < b, or ``n`` is not an integer ≥ 2.
        """
        if not (np.isfinite(a) and np.isfinite(b) and a < b):
            raise ValueError(f"interval needs finite a < b, got a={a}, b={b}")
        if int(n) != n or n < 2:
            raise ValueError(f"interval needs an integer n >= 2 nodes, got {n}")
        return cls.line(np.linspace(a, b, int(n)))

    @classmethod
    def from_points(cls, points, max_edge=None, offset=None, min_angle: float = 25.0,
                    cutoff=None) -> Mesh:
        """Quality Delaunay mesh of scattered 2-D points, as R-INLA's ``inla.mesh.2d``.

        - nodes: the points, de-duplicated greedily in input order (a point within ``cutoff``
          of a point already kept is dropped), come first, in that order; Triangle adds the
          Steiner points after them.
        - inner domain: the convex hull of the kept points, triangles of edge about
          ``max_edge[0]``; outer extension: the hull dilated by ``offset`` (rounded corners),
          triangles of edge about ``max_edge[1]``.
        - quality: no angle below ``min_angle`` degrees (≤ 33; Triangle's ``q`` switch) and a
          maximum area √3/4·max_edge² per region (an equilateral triangle of side max_edge;
          edges can be somewhat longer).

        Parameters
        ----------
        points : array_like
            ``(n, 2)`` data locations, n ≥ 3, not all collinear.
        max_edge : float or tuple of float, optional
            Target edge length of the inner domain and of the extension (a scalar applies to
            both); default ``(D/30, D/10)`` with D the diagonal of the points' bounding box.
        offset : float, optional
            Width of the extension; default ``0.2·D``.
        min_angle : float, default 25.0
            Minimum angle in degrees, in (0, 33].
        cutoff : float, optional
            Distance within which points merge; default ``max_edge[0]/1000`` (only
            near-duplicates merge; for dense data a cutoff near ``max_edge[0]/5``, as R-INLA's
            users do, keeps the mesh small).

        Returns
        -------
        Mesh
            A 2-D mesh whose first nodes are the kept points.

        Raises
        ------
        ValueError
            If the points are not ``(n, 2)``, fewer than 3, coincide or are collinear, or
            ``max_edge``, ``offset``, ``cutoff`` or ``min_angle`` is out of range
            (``cutoff`` must be below ``offset``).
        """
        pts = _as_float_array(points, "points", 2)
        if pts.shape[1] != 2:
            raise ValueError(f"from_points builds 2-D meshes: points must be (n, 2), got "
                             f"{pts.shape} (use Mesh.line for 1-D)")
        if pts.shape[0] < 3:
            raise ValueError(f"from_points needs at least 3 points, got {pts.shape[0]}")
        diam = float(np.linalg.norm(pts.max(0) - pts.min(0)))
        if not diam > 0:
            raise ValueError("all points coincide")
        if max_edge is None:
            max_edge = (diam / 30, diam / 10)
        me = np.atleast_1d(np.asarray(max_edge, dtype=np.float64))
        if me.size == 1:
            me = np.repeat(me, 2)
        if me.shape != (2,) or not (np.isfinite(me).all() and (me > 0).all()):
            raise ValueError(f"max_edge must be a positive number or a pair, got {max_edge}")
        offset = 0.2 * diam if offset is None else float(offset)
        cutoff = me[0] / 1000 if cutoff is None else float(cutoff)
        if not (np.isfinite(offset) and offset > 0):
            raise ValueError(f"offset must be positive, got {offset}")
        if not (np.isfinite(cutoff) and cutoff >= 0):
            raise ValueError(f"cutoff must be >= 0, got {cutoff}")
        if cutoff >= offset:
            raise ValueError(f"cutoff ({cutoff}) must be smaller than offset ({offset})")
        if not 0 < min_angle <= 33:
            raise ValueError(f"min_angle must be in (0, 33] degrees (Triangle may not "
                             f"terminate above), got {min_angle}")
        kept = _dedupe(pts, cutoff)
        return cls(*_triangulate(kept, me, offset, float(min_angle)))

    def coarsened(self, factor: float = 2.0) -> Mesh:
        """A 2-D mesh over (about) the same domain with edges about ``factor`` times longer.

        It is :meth:`from_points` of these nodes merged within 0.75 of the new median edge E,
        ``max_edge`` 1.2 E (Triangle's area bound √3/4·max_edge² must admit the right triangles of a
        coarsened grid, E²/2), the hull extended by E; it has about factor² fewer nodes. Meant for a
        cheap first search of a fit; the domain is the convex hull, so a non-convex mesh's holes and
        bays are filled.

        Parameters
        ----------
        factor : float, default 2.0
            Ratio of the new median edge length to this mesh's, > 1.

        Returns
        -------
        Mesh

        Raises
        ------
        ValueError
            If the mesh is not 2-D or ``factor <= 1``.
        """
        if self.dim != 2:
            raise ValueError(f"coarsened builds 2-D meshes, this one is {self.dim}-D")
        if not factor > 1:
            raise ValueError(f"the coarsening factor must exceed 1, got {factor}")
        edge = float(factor) * float(np.median(self.edge_lengths))
        return Mesh.from_points(self.nodes, max_edge=1.2 * edge, offset=edge,
                                cutoff=0.75 * edge)

    # ------------------------------------------------------------------ properties
    @property
    def n_nodes(self) -> int:
        """Number of nodes N.

        Returns
        -------
        int
        """
        return self.nodes.shape[0]

    @property
    def n_cells(self) -> int:
        """Number of cells M.

        Returns
        -------
        int
        """
        return self.cells.shape[0]

    @property
    def dim(self) -> int:
        """Spatial dimension d.

        Returns
        -------
        int
        """
        return self.nodes.shape[1]

    @cached_property
    def cell_volumes(self) -> np.ndarray:
        r"""Lengths (1-D), areas (2-D) or volumes (3-D) of the cells, :math:`\det(J_e)/d!`.

        Returns
        -------
        numpy.ndarray
            ``(M,)`` read-only.
        """
        v = self._det / math.factorial(self.dim)
        v.setflags(write=False)
        return v

    @property
    def longest_edges(self) -> np.ndarray:
        """The length of each cell's longest edge (its diameter h_T).

        Returns
        -------
        numpy.ndarray
            ``(M,)`` read-only.
        """
        return self._longest

    @cached_property
    def centroids(self) -> np.ndarray:
        """The cells' centroids.

        Returns
        -------
        numpy.ndarray
            ``(M, d)`` read-only.
        """
        c = self.nodes[self.cells].mean(axis=1)
        c.setflags(write=False)
        return c

    @cached_property
    def barycentric_gradients(self) -> np.ndarray:
        r"""Gradients :math:`\nabla\lambda_a` of the barycentric coordinates (constant per cell).

        Rows k ≥ 1 are those of :math:`J_e^{-1}`; :math:`\nabla\lambda_0 = -\sum_k \nabla\lambda_k`.

        Returns
        -------
        numpy.ndarray
            ``(M, d+1, d)`` read-only.
        """
        x = self.nodes[self.cells]  # (M, d+1, d)
        J = np.swapaxes(x[:, 1:] - x[:, :1], 1, 2)  # (M, d, d), columns p_k − p₀
        d = self.dim
        if d == 1:
            inv = 1.0 / J
        elif d == 2:
            inv = np.empty_like(J)
            det = self._det[:, None]
            inv[:, 0, 0] = J[:, 1, 1]
            inv[:, 0, 1] = -J[:, 0, 1]
            inv[:, 1, 0] = -J[:, 1, 0]
            inv[:, 1, 1] = J[:, 0, 0]
            inv /= det[:, :, None]
        else:
            inv = np.linalg.inv(J)
        g = np.concatenate([-inv.sum(axis=1, keepdims=True), inv], axis=1)
        g.setflags(write=False)
        return g

    @cached_property
    def edges(self) -> np.ndarray:
        """The unique edges (i < j), sorted.

        Returns
        -------
        numpy.ndarray
            ``(E, 2)`` int64, read-only.
        """
        k = self.dim + 1
        a, b = np.triu_indices(k, 1)
        e = np.sort(np.stack([self.cells[:, a], self.cells[:, b]], -1).reshape(-1, 2), axis=1)
        keys = np.unique(e[:, 0] * self.n_nodes + e[:, 1])
        out = np.column_stack([keys // self.n_nodes, keys % self.n_nodes])
        out.setflags(write=False)
        return out

    @cached_property
    def edge_lengths(self) -> np.ndarray:
        """The lengths of :attr:`edges`.

        Returns
        -------
        numpy.ndarray
            ``(E,)`` read-only.
        """
        e = self.edges
        out = np.linalg.norm(self.nodes[e[:, 0]] - self.nodes[e[:, 1]], axis=1)
        out.setflags(write=False)
        return out

    @cached_property
    def boundary_nodes(self) -> np.ndarray:
        """The nodes on facets that belong to one cell only.

        Returns
        -------
        numpy.ndarray
            ``(B,)`` sorted int64, read-only.

        Raises
        ------
        ValueError
            If a facet is shared by more than two cells (not a conforming mesh).
        """
        facets, counts = self._facets()
        if (counts > 2).any():
            raise ValueError(f"not a conforming mesh: {int((counts > 2).sum())} facets are "
                             "shared by more than two cells")
        b = np.unique(facets[counts == 1])
        b.setflags(write=False)
        return b

    def _facets(self):
        d, n = self.dim, self.n_nodes
        k = d + 1
        f = np.stack([np.delete(self.cells, a, axis=1) for a in range(k)], 1).reshape(-1, d)
        f = np.sort(f, axis=1)
        if d == 1:
            u, c = np.unique(f[:, 0], return_counts=True)
            return u[:, None], c
        if d == 2:
            u, c = np.unique(f[:, 0] * n + f[:, 1], return_counts=True)
            return np.column_stack([u // n, u % n]), c
        return np.unique(f, axis=0, return_counts=True)

    @property
    def bbox(self) -> np.ndarray:
        """The minimum and the maximum of the node coordinates.

        Returns
        -------
        numpy.ndarray
            ``(2, d)``: row 0 the minima, row 1 the maxima.
        """
        return np.stack([self.nodes.min(0), self.nodes.max(0)])

    def __repr__(self) -> str:
        lo, hi = self.bbox
        box = " × ".join(f"[{a:.4g}, {b:.4g}]" for a, b in zip(lo, hi, strict=True))
        kind = {1: "segments", 2: "triangles", 3: "tetrahedra"}[self.dim]
        return (f"Mesh(dim={self.dim}, n_nodes={self.n_nodes}, n_cells={self.n_cells} "
                f"{kind}, bbox={box})")

    # ------------------------------------------------------------------ projector
    def locate(self, points) -> tuple[np.ndarray, np.ndarray]:
        """The cell containing each point and the point's barycentric coordinates.

        A point within a relative 1e-10 of a cell (in barycentric terms) counts as inside.
        Vectorised: the cell with the nearest centroid (cKDTree) is tested first, then the 8, 64,
        512 nearest; points not found there are tested against every cell whose centroid lies
        within the largest centroid-to-vertex distance, which is exact for any mesh, graded or not.

        Parameters
        ----------
        points : array_like
            ``(n, d)`` points (``(n,)`` in 1-D, ``(d,)`` for one point).

        Returns
        -------
        cell : numpy.ndarray
            ``(n,)`` int64 cell index, −1 for a point outside the mesh.
        lam : numpy.ndarray
            ``(n, d+1)`` barycentric coordinates, clipped to ≥ 0 and renormalised; NaN outside.

        Raises
        ------
        ValueError
            If ``points`` has the wrong shape or non-finite coordinates.
        """
        pts = self._points(points)
        n, k = pts.shape[0], self.dim + 1
        cell = np.full(n, -1, dtype=np.int64)
        lam = np.full((n, k), np.nan)
        if n == 0:
            return cell, lam
        tree = self._centroid_tree
        todo = np.arange(n)
        for kk in (1, 8, 64, 512):  # the cells with the kk nearest centroids
            kk = min(kk, self.n_cells)
            chunk = max(1, (1 << 20) // kk)
            for s in range(0, todo.size, chunk):
                rows = todo[s:s + chunk]
                p = pts[rows]
                _, cand = tree.query(p, kk)
                cand = cand.reshape(p.shape[0], kk)
                lm = self._bary(p[:, None, :], cand)  # (m, kk, k)
                score = lm.min(-1)
                best = score.argmax(1)
                r = np.arange(p.shape[0])
                ok = score[r, best] >= -_BARY_TOL
                cell[rows[ok]] = cand[r, best][ok]
                lam[rows[ok]] = lm[r, best][ok]
            todo = np.nonzero(cell < 0)[0]
            if todo.size == 0 or kk == self.n_cells:
                break
        if todo.size:
            cents = self.nodes[self.cells].mean(1)
            rad = np.linalg.norm(self.nodes[self.cells] - cents[:, None], axis=-1).max()
            lists = tree.query_ball_point(pts[todo], rad * (1 + 1e-9) + 1e-300)
            lens = np.array([len(c) for c in lists])
            has = np.nonzero(lens)[0]
            if has.size:
                cand = np.concatenate([np.asarray(lists[i], dtype=np.int64) for i in has])
                owner = np.repeat(has, lens[has])
                lm = self._bary(pts[todo[owner]], cand)  # (c, k)
                score = lm.min(-1)
                starts = np.concatenate([[0], np.cumsum(lens[has])[:-1]])
                best_score = np.maximum.reduceat(score, starts)
                # first candidate reaching the maximum of its group
                is_best = score == np.repeat(best_score, lens[has])
                idx = np.nonzero(is_best)[0]
                first = idx[np.searchsorted(idx, starts)]
                found = best_score >= -_BARY_TOL
                rows = todo[has[found]]
                cell[rows] = cand[first[found]]
                lam[rows] = lm[first[found]]
        inside = cell >= 0
        lam[inside] = np.clip(lam[inside], 0.0, None)
        lam[inside] /= lam[inside].sum(1, keepdims=True)
        return cell, lam

    def projector(self, points) -> sp.csr_matrix:
        """The P1 observation matrix A: :math:`(A x)_i = x(s_i)` for a piecewise-linear field x.

        Row i holds the barycentric weights of ``points[i]`` on the vertices of its cell. Rows sum
        to 1 and reproduce linear functions exactly; explicit zeros are dropped (a point on a node
        has the single weight 1).

        Parameters
        ----------
        points : array_like
            ``(n, d)`` points.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(n, N)`` with sorted indices.

        Raises
        ------
        ValueError
            If ``points`` is malformed, or naming the points that lie outside the mesh.
        """
        pts = self._points(points)
        cell, lam = self.locate(pts)
        out = np.nonzero(cell < 0)[0]
        if out.size:
            ex = ", ".join(str(tuple(np.round(pts[i], 6).tolist())) for i in out[:3])
            raise ValueError(f"{out.size} of {pts.shape[0]} points lie outside the mesh: rows "
                             f"{_first(out)}, e.g. {ex}; bbox of the mesh {self.bbox.tolist()}")
        n, k = pts.shape[0], self.dim + 1
        A = sp.csr_matrix((lam.ravel(), self.cells[cell].ravel(), np.arange(0, n * k + 1, k)),
                          shape=(n, self.n_nodes))
        A.eliminate_zeros()
        A.sort_indices()
        return A

    def _points(self, points) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        if p.ndim == 1 and self.dim == 1:
            p = p[:, None]
        if p.ndim == 1 and p.size == self.dim:
            p = p[None, :]
        if p.ndim != 2 or p.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {p.shape}")
        bad = ~np.isfinite(p).all(1)
        if bad.any():
            raise ValueError(f"points has non-finite coordinates at rows "
                             f"{_first(np.nonzero(bad)[0])}")
        return p

    @cached_property
    def _centroid_tree(self) -> cKDTree:
        return cKDTree(self.centroids)

    def _bary(self, p, cand) -> np.ndarray:
        """Barycentric coordinates of p ``(..., d)`` in cells cand ``(...)`` → ``(..., d+1)``."""
        g = self.barycentric_gradients[cand]  # (..., d+1, d)
        p0 = self.nodes[self.cells[cand, 0]]  # (..., d)
        rest = np.einsum("...kd,...d->...k", g[..., 1:, :], p - p0)
        return np.concatenate([1.0 - rest.sum(-1, keepdims=True), rest], -1)


def _det_and_longest_edge(nodes, cells):
    """det J_e ``(M,)`` (signed) and the squared length of the longest edge ``(M,)``."""
    x = nodes[cells]
    e = x[:, 1:] - x[:, :1]  # (M, d, d): rows p_k − p₀
    d = nodes.shape[1]
    if d == 1:
        det = e[:, 0, 0]
    elif d == 2:
        det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    else:
        det = np.linalg.det(e)
    k = d + 1
    a, b = np.triu_indices(k, 1)
    longest2 = np.zeros(len(cells))
    for i, j in zip(a, b, strict=True):
        v = x[:, j] - x[:, i]
        np.maximum(longest2, np.einsum("ed,ed->e", v, v), out=longest2)
    return det, longest2


def _dedupe(pts: np.ndarray, cutoff: float) -> np.ndarray:
    """Greedy in input order: drop each point within ``cutoff`` of a point already kept."""
    tree = cKDTree(pts)
    pairs = tree.query_pairs(cutoff, output_type="ndarray") if cutoff > 0 else None
    if cutoff == 0:
        _, first = np.unique(pts, axis=0, return_index=True)
        return pts[np.sort(first)]
    if pairs.size == 0:
        return pts
    n = pts.shape[0]
    i, j = np.concatenate([pairs[:, 0], pairs[:, 1]]), np.concatenate([pairs[:, 1], pairs[:, 0]])
    adj = sp.csr_matrix((np.ones(i.size, bool), (i, j)), shape=(n, n))
    keep = np.ones(n, dtype=bool)
    for p in np.unique(pairs):  # points with a neighbour, ascending
        if keep[p]:
            nb = adj.indices[adj.indptr[p]:adj.indptr[p + 1]]
            keep[nb[nb > p]] = False
    return pts[keep]


def _hull_with_collinear(pts: np.ndarray, hv: np.ndarray) -> np.ndarray:
    """The hull's vertices with every point lying on a hull edge inserted in order.

    Qhull returns only the corners; a boundary segment passing (up to rounding) through
    other data points — gridded data — makes Triangle insert Steiner points next to them and
    leaves cells of near-zero area. Points within 1e-9·diameter of an edge become vertices of
    the boundary polygon instead."""
    diam = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    out = []
    for a, b in zip(hv, np.roll(hv, -1), strict=True):
        e = pts[b] - pts[a]
        L2 = float(e @ e)
        rel = pts - pts[a]
        t = rel @ e / L2
        dist = np.abs(rel[:, 0] * e[1] - rel[:, 1] * e[0]) / math.sqrt(L2)
        on = np.flatnonzero((dist <= 1e-9 * diam) & (t > 0) & (t < 1))
        out.append(a)
        out.extend(on[np.argsort(t[on], kind="stable")].tolist())
    return np.asarray(out, dtype=np.int64)


def _triangulate(pts: np.ndarray, max_edge: np.ndarray, offset: float, min_angle: float):
    try:
        hull = ConvexHull(pts)
    except QhullError as exc:
        raise ValueError("the points are collinear (their convex hull has no area); "
                         "use Mesh.line for 1-D data") from exc
    hv = _hull_with_collinear(pts, hull.vertices)  # counter-clockwise
    h_out = float(max_edge[1])
    # the hull dilated by offset: the convex hull of circles around the hull's vertices
    m = max(8, int(math.ceil(2 * math.pi * offset / h_out)))
    t = 2 * math.pi * np.arange(m) / m
    circ = (pts[hv][:, None, :] + offset * np.stack([np.cos(t), np.sin(t)], -1)).reshape(-1, 2)
    outer = circ[ConvexHull(circ).vertices]
    # resample the outer polygon so that no boundary edge exceeds max_edge[1]
    nxt = np.roll(outer, -1, axis=0)
    pieces = np.maximum(1, np.ceil(np.linalg.norm(nxt - outer, axis=1) / h_out)).astype(int)
    ring = np.concatenate([a + (b - a) * (np.arange(q) / q)[:, None]
                           for a, b, q in zip(outer, nxt, pieces, strict=True)])
    n_in, n_ring = pts.shape[0], ring.shape[0]
    seg_in = np.column_stack([hv, np.roll(hv, -1)])
    r = n_in + np.arange(n_ring)
    seg_out = np.column_stack([r, np.roll(r, -1)])
    c = pts[hv].mean(0)  # inside the (convex) hull
    v = pts[hv[0]]
    u = (v - c) / np.linalg.norm(v - c)
    ann = v + 0.5 * offset * u  # between the hull and the outer boundary
    area = math.sqrt(3) / 4 * max_edge**2
    geom = {
        "vertices": np.concatenate([pts, ring]),
        "segments": np.concatenate([seg_in, seg_out]),
        "regions": np.array([[c[0], c[1], 1, area[0]], [ann[0], ann[1], 2, area[1]]]),
    }
    out = triangle.triangulate(geom, f"pq{min_angle:.6g}aAQ")
    nodes, cells = out["vertices"], out["triangles"].astype(np.int64)
    if not np.array_equal(nodes[:n_in], pts):
        raise RuntimeError("Triangle reordered the input points")  # pragma: no cover
    return nodes, cells
