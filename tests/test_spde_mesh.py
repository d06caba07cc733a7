"""spde.mesh: validation, constructors, quality meshes of scattered points, the projector."""

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Delaunay

from fieldfit.spde import Mesh


def min_angles(mesh):
    x = mesh.nodes[mesh.cells]
    out = []
    for i in range(3):
        u, v = x[:, (i + 1) % 3] - x[:, i], x[:, (i + 2) % 3] - x[:, i]
        c = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        out.append(np.degrees(np.arccos(np.clip(c, -1, 1))))
    return np.min(out, axis=0)


def linear(p):
    return 0.3 + 2.0 * p[:, 0] - 1.5 * p[:, -1]


@pytest.fixture(scope="module")
def scattered():
    pts = np.random.default_rng(0).random((300, 2)) * [2.0, 1.0]
    return pts, Mesh.from_points(pts)


def test_grid():
    x, y = np.array([0.0, 0.5, 2.0]), np.array([1.0, 2.0, 2.5, 4.0])
    m = Mesh.grid(x, y)
    assert (m.n_nodes, m.n_cells, m.dim) == (12, 12, 2)
    assert m.nodes.dtype == np.float64 and m.cells.dtype == np.int64
    np.testing.assert_array_equal(m.nodes[4], [x[1], y[1]])  # node j·nx + i
    assert m.cell_volumes.sum() == pytest.approx(2.0 * 3.0)
    assert (m.cell_volumes > 0).all()
    assert len(m.edges) == 2 * 4 + 3 * 3 + 2 * 3  # horizontal + vertical + diagonal
    assert len(m.boundary_nodes) == 12 - 2
    assert len(m.nodes) - len(m.edges) + m.n_cells == 1  # Euler characteristic of a disk
    assert "n_nodes=12" in repr(m) and "triangles" in repr(m)
    with pytest.raises(ValueError, match="strictly increasing"):
        Mesh.grid([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="at least 2"):
        Mesh.grid([0], [0, 1])


def test_line_and_interval():
    m = Mesh.interval(0.0, 2.0, 5)
    assert (m.n_nodes, m.n_cells, m.dim) == (5, 4, 1)
    np.testing.assert_allclose(m.cell_volumes, 0.5)
    np.testing.assert_array_equal(m.boundary_nodes, [0, 4])
    l = Mesh.line([0.0, 0.1, 0.5, 2.0])
    np.testing.assert_allclose(l.cell_volumes, [0.1, 0.4, 1.5])
    np.testing.assert_array_equal(l.edges, [[0, 1], [1, 2], [2, 3]])
    with pytest.raises(ValueError, match="strictly increasing"):
        Mesh.line([0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="n >= 2"):
        Mesh.interval(0, 1, 1)
    with pytest.raises(ValueError, match="a < b"):
        Mesh.interval(1, 0, 3)


def test_validation():
    nodes = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    Mesh(nodes, [[0, 1, 2], [1, 3, 2]])
    with pytest.raises(ValueError, match="negatively oriented"):
        Mesh(nodes, [[0, 2, 1], [1, 3, 2]])
    m = Mesh(nodes, [[0, 2, 1], [1, 3, 2]], reorient=True)
    assert (m.cell_volumes > 0).all()
    with pytest.raises(ValueError, match="belong to no cell"):
        Mesh(nodes, [[0, 1, 2]])
    with pytest.raises(ValueError, match="degenerate"):
        Mesh([[0, 0], [1, 0], [2, 0]], [[0, 1, 2]])
    with pytest.raises(ValueError, match="outside 0..3"):
        Mesh(nodes, [[0, 1, 2], [1, 4, 2]])
    with pytest.raises(ValueError, match="non-finite"):
        Mesh([[0, 0], [1, np.nan], [0, 1]], [[0, 1, 2]])
    with pytest.raises(ValueError, match=r"shape \(M, 3\)"):
        Mesh(nodes, [[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="integer"):
        Mesh(nodes, [[0, 1, 2.5], [1, 3, 2]])
    with pytest.raises(ValueError, match="shared by more than two"):
        _ = Mesh([[0, 0], [1, 0], [0, 1], [0, -1], [0.5, 2]],
                 [[0, 1, 2], [0, 3, 1], [0, 1, 4]], reorient=True).boundary_nodes
    assert not m.nodes.flags.writeable and not m.cells.flags.writeable


def test_from_points_quality(scattered):
    pts, m = scattered
    assert m.dim == 2
    np.testing.assert_array_equal(m.nodes[: len(pts)], pts)  # data points are the first nodes
    assert min_angles(m).min() >= 25.0 - 1e-9
    assert len(m.nodes) - len(m.edges) + m.n_cells == 1  # conforming, a disk
    # the outer boundary lies about `offset` = 0.2·diameter away from the data's hull
    diam = np.linalg.norm(pts.max(0) - pts.min(0))
    hull = Delaunay(pts[ConvexHull(pts).vertices])
    bnd = m.nodes[m.boundary_nodes]
    assert (hull.find_simplex(bnd) < 0).all()
    hv = pts[ConvexHull(pts).vertices]
    a, b = hv, np.roll(hv, -1, axis=0)  # distance to the hull's edges
    t = np.clip(((bnd[:, None] - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1), 0, 1)
    dist = np.linalg.norm(bnd[:, None] - (a + t[..., None] * (b - a)), axis=-1).min(1)
    assert dist.min() > 0.19 * diam and dist.max() < 0.2 * diam * (1 + 1e-9)
    # inner triangles respect the area bound of max_edge = diam/30
    cent = m.nodes[m.cells].mean(1)
    inner = hull.find_simplex(cent) >= 0
    assert m.cell_volumes[inner].max() <= np.sqrt(3) / 4 * (diam / 30) ** 2 * (1 + 1e-9)
    assert m.cell_volumes[~inner].max() > m.cell_volumes[inner].max()  # coarser outside


def test_from_points_options():
    rng = np.random.default_rng(1)
    pts = rng.random((100, 2))
    pts = np.concatenate([pts, pts[:5], pts[5:10] + 1e-4])  # exact and near duplicates
    m = Mesh.from_points(pts, max_edge=0.1, offset=0.3, min_angle=30, cutoff=1e-3)
    np.testing.assert_array_equal(m.nodes[:100], pts[:100])
    assert min_angles(m).min() >= 30.0 - 1e-9
    A = m.projector(pts)  # the merged points still lie in the mesh
    np.testing.assert_allclose(A @ linear(m.nodes), linear(pts), atol=1e-12)
    # with cutoff 0 only exact duplicates merge
    m0 = Mesh.from_points(pts, cutoff=0)
    np.testing.assert_array_equal(m0.nodes[:105], pts[np.r_[0:100, 105:110]])
    with pytest.raises(ValueError, match="collinear"):
        Mesh.from_points(np.column_stack([np.arange(5.0), np.arange(5.0)]))
    with pytest.raises(ValueError, match="min_angle"):
        Mesh.from_points(pts, min_angle=40)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        Mesh.from_points(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        Mesh.from_points(np.array([[0, 0], [1, np.nan], [0, 1]]))


@pytest.mark.parametrize("kind", ["grid", "scattered", "line"])
def test_projector(kind, scattered):
    rng = np.random.default_rng(2)
    if kind == "grid":
        m = Mesh.grid(np.linspace(0, 1, 7), np.linspace(-1, 1, 5) ** 3)
        q = np.column_stack([rng.random(500), rng.uniform(-1, 1, 500)])
    elif kind == "scattered":
        m = scattered[1]
        q = np.column_stack([rng.uniform(-0.3, 2.3, 2000), rng.uniform(-0.3, 1.3, 2000)])
        q = q[Delaunay(m.nodes).find_simplex(q) >= 0]  # the mesh is convex
    else:
        m = Mesh.line(np.sort(np.r_[0.0, rng.random(20), 1.0]))
        q = rng.random(300)
    A = m.projector(q)
    assert A.shape == (len(q), m.n_nodes) and A.format == "csr"
    assert A.nnz <= len(q) * (m.dim + 1) and (A.data > 0).all()
    np.testing.assert_allclose(np.asarray(A.sum(1)).ravel(), 1.0, atol=1e-14)
    qq = q.reshape(len(q), -1)
    np.testing.assert_allclose(A @ linear(m.nodes), linear(qq), atol=1e-12)
    # at the nodes, the identity
    An = m.projector(m.nodes)
    np.testing.assert_allclose(An.toarray(), np.eye(m.n_nodes), atol=1e-12)


def test_locate_graded_against_brute_force(scattered):
    m = scattered[1]
    q = np.random.default_rng(3).uniform([-0.2, -0.2], [2.2, 1.2], size=(400, 2))
    cell, lam = m.locate(q)
    bary = m._bary(q[:, None, :], np.broadcast_to(np.arange(m.n_cells), (len(q), m.n_cells)))
    inside = (bary.min(-1) >= -1e-10).any(1)
    np.testing.assert_array_equal(cell >= 0, inside)
    assert (bary[np.nonzero(inside)[0], cell[inside]].min(-1) >= -1e-10).all()
    np.testing.assert_allclose(lam[inside].sum(1), 1.0)


def test_projector_outside():
    m = Mesh.grid([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"2 of 4 points lie outside the mesh: rows \[1, 3\]"):
        m.projector([[0.5, 0.5], [1.5, 0.5], [1.0, 1.0], [-1e-3, 0.2]])
    with pytest.raises(ValueError, match="non-finite"):
        m.projector([[np.nan, 0.5]])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        m.projector(np.zeros((3, 3)))
    # on the boundary, within rounding, counts as inside
    A = m.projector([[1.0 + 1e-14, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(A.toarray()[1], [1, 0, 0, 0])


def test_from_points_on_gridded_data_has_no_slivers():
    # gridded data put many points (up to rounding) on the hull's edges; they must become
    # boundary vertices, not neighbours of Steiner points in near-zero-area cells
    # (the MODIS grid of Heaton et al. gave cells of area 1e-28 before the fix)
    from fieldfit import datasets

    df = datasets.load("heaton-modis-simulated")
    pts = df.loc[df["MaskTemp"].notna(), ["Lon", "Lat"]].to_numpy()
    vol = Mesh.from_points(pts).cell_volumes
    assert vol.min() > 1e-6 * np.median(vol)
