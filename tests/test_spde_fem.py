"""spde.fem: the P1 matrices against closed forms and scikit-fem, and the torch value maps."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from skfem import Basis as SkBasis
from skfem import (
    BilinearForm,
    ElementLineP1,
    ElementTriP0,
    ElementTriP1,
    MeshLine,
    MeshTri,
    asm,
)
from skfem.models.poisson import laplace, mass

from fieldfit.spde import FEM, Mesh

H0 = np.array([[2.0, 0.6], [0.6, 0.5]])
V0 = np.array([0.7, -1.3])


@pytest.fixture(scope="module")
def mesh():
    return Mesh.from_points(np.random.default_rng(0).random((60, 2)) * [2.0, 1.0])


@pytest.fixture(scope="module")
def fem(mesh):
    return FEM(mesh)


@pytest.fixture(scope="module")
def sk(mesh):
    basis = SkBasis(MeshTri(mesh.nodes.T.copy(), mesh.cells.T.copy()), ElementTriP1(), intorder=3)
    return basis, basis.with_element(ElementTriP0())


def close(A, B, tol=1e-12):
    A = A.toarray() if sp.issparse(A) else np.asarray(A)
    B = B.toarray() if sp.issparse(B) else np.asarray(B)
    assert np.abs(A - B).max() <= tol * max(1.0, np.abs(B).max())


def test_pattern(fem, mesh):
    n = mesh.n_nodes
    assert fem.shape == (n, n) and fem.indptr.dtype == fem.indices.dtype == np.int32
    P = fem.to_csc(np.ones(fem.nnz))
    assert P.has_canonical_format and P.format == "csc"
    assert (P != P.T).nnz == 0  # symmetric pattern
    assert fem.nnz == n + 2 * len(mesh.edges)  # the diagonal and every edge, both ways
    np.testing.assert_array_equal(fem.indices[fem.diag_index], np.arange(n))
    for A in (fem.mass(), fem.stiffness(H0), fem.advection(V0), fem.mass(np.ones(n))):
        np.testing.assert_array_equal(A.indptr, fem.indptr)  # one pattern for all
        np.testing.assert_array_equal(A.indices, fem.indices)
    with pytest.raises(ValueError, match=r"shape \("):
        fem.to_csc(np.ones(3))


def test_mass_and_lumped(fem, mesh):
    C = fem.mass()
    area = mesh.cell_volumes.sum()
    assert C.sum() == pytest.approx(area, rel=1e-13)
    f = 0.3 + 2.0 * mesh.nodes[:, 0] - 1.5 * mesh.nodes[:, 1]
    g = 1.0 - mesh.nodes[:, 1]
    exact = (mesh.cell_volumes * f[mesh.cells].mean(1)).sum()  # ∫ f (linear on each cell)
    assert np.ones(mesh.n_nodes) @ C @ f == pytest.approx(exact, rel=1e-13)
    fg = mesh.cell_volumes * (f[mesh.cells] @ fem._ref_mass * g[mesh.cells]).sum(1)
    assert f @ C @ g == pytest.approx(fg.sum(), rel=1e-13)
    np.testing.assert_allclose(fem.lumped_mass(), np.asarray(C.sum(1)).ravel(), rtol=1e-13)
    w = np.random.default_rng(1).random(mesh.n_nodes)
    wc = np.random.default_rng(2).random(mesh.n_cells)
    np.testing.assert_allclose(fem.lumped_mass(w), np.asarray(fem.mass(w).sum(1)).ravel(),
                               rtol=1e-13)
    np.testing.assert_allclose(fem.lumped_mass(w), C @ w, rtol=1e-13)
    np.testing.assert_allclose(fem.lumped_mass(wc, on="cells"),
                               np.asarray(fem.mass(wc, on="cells").sum(1)).ravel(), rtol=1e-13)
    close(fem.mass(np.full(mesh.n_nodes, 3.0)), 3 * C)
    close(fem.mass(np.full(mesh.n_cells, 3.0), on="cells"), 3 * C)
    close(fem.mass(2.5), 2.5 * C)
    with pytest.raises(ValueError, match="'nodes' or 'cells'"):
        fem.mass(w, on="edges")
    with pytest.raises(ValueError, match="weights on cells"):
        fem.mass(w, on="cells")


def test_stiffness_properties(fem, mesh):
    one = np.ones(mesh.n_nodes)
    rng = np.random.default_rng(3)
    Hs = np.einsum("eij,ekj->eik", *(2 * [rng.normal(size=(mesh.n_cells, 2, 2))]))
    for H in (None, H0, Hs):
        G = fem.stiffness(H)
        assert np.abs(G @ one).max() < 1e-12
        close(G, G.T)
    a = np.array([2.0, -1.5])
    f = mesh.nodes @ a  # ∫ ∇f·H∇f = |D| aᵀHa
    assert f @ fem.stiffness(H0) @ f == pytest.approx(mesh.cell_volumes.sum() * a @ H0 @ a)
    close(fem.stiffness(np.broadcast_to(H0, (mesh.n_cells, 2, 2))), fem.stiffness(H0))
    close(fem.stiffness(np.eye(2)), fem.stiffness())
    assert np.abs(fem.advection(V0) @ one).max() < 1e-12  # v·∇1 = 0
    with pytest.raises(ValueError, match="H must have shape"):
        fem.stiffness(np.eye(3))
    with pytest.raises(ValueError, match="v must have shape"):
        fem.advection(np.ones(3))


def test_against_scikit_fem(fem, mesh, sk):
    basis, basis0 = sk
    close(fem.mass(), asm(mass, basis))
    close(fem.stiffness(), asm(laplace, basis))

    @BilinearForm
    def diffusion(u, v, w):
        return sum(w[f"h{p}{q}"] * u.grad[q] * v.grad[p] for p in range(2) for q in range(2))

    @BilinearForm
    def advection(u, v, w):  # ∫ φ_i (v·∇φ_j): the test function v is the row
        return (w.v0 * u.grad[0] + w.v1 * u.grad[1]) * v

    @BilinearForm
    def weighted(u, v, w):
        return w.c * u * v

    def cellwise(name, a, shape):  # per-cell values as P0 fields, one keyword per component
        a = np.broadcast_to(a, (mesh.n_cells, *shape))
        return {name + "".join(map(str, i)): basis0.interpolate(a[(slice(None), *i)].copy())
                for i in np.ndindex(*shape)}

    close(fem.stiffness(H0), asm(diffusion, basis, **cellwise("h", H0, (2, 2))))
    close(fem.advection(V0), asm(advection, basis, **cellwise("v", V0, (2,))))
    rng = np.random.default_rng(4)
    Hs = np.einsum("eij,ekj->eik", *(2 * [rng.normal(size=(mesh.n_cells, 2, 2))]))
    close(fem.stiffness(Hs), asm(diffusion, basis, **cellwise("h", Hs, (2, 2))))
    vs = rng.normal(size=(mesh.n_cells, 2))
    close(fem.advection(vs), asm(advection, basis, **cellwise("v", vs, (2,))))
    wc, wn = rng.random(mesh.n_cells), rng.random(mesh.n_nodes)
    close(fem.mass(wc, on="cells"), asm(weighted, basis, c=basis0.interpolate(wc)))
    close(fem.mass(wn), asm(weighted, basis, c=basis.interpolate(wn)))  # degree 3, exact


def test_one_dimensional_closed_forms():
    n, h = 6, 0.25
    fem = FEM(Mesh.interval(0.0, h * (n - 1), n))
    C = fem.mass().toarray()
    G = fem.stiffness().toarray()
    tri = np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    Cx = h / 6 * (4 * np.eye(n) + tri)
    Cx[0, 0] = Cx[-1, -1] = 2 * h / 6
    Gx = 1 / h * (2 * np.eye(n) - tri)
    Gx[0, 0] = Gx[-1, -1] = 1 / h
    np.testing.assert_allclose(C, Cx, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(G, Gx, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(fem.stiffness(3.0).toarray(), 3 * Gx, rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(fem.lumped_mass(), [h / 2] + [h] * (n - 2) + [h / 2])
    Bx = 0.5 * (np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1))  # ∫φ_i φ_j'
    Bx[0, 0], Bx[-1, -1] = -0.5, 0.5
    np.testing.assert_allclose(fem.advection(1.0).toarray(), Bx, atol=1e-15)
    # an irregular line against scikit-fem
    x = np.sort(np.r_[0.0, np.random.default_rng(5).random(12), 1.0])
    f1 = FEM(Mesh.line(x))
    b = SkBasis(MeshLine(x), ElementLineP1())
    close(f1.mass(), asm(mass, b))
    close(f1.stiffness(), asm(laplace, b))


def test_tetrahedra():
    nodes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1.0]])
    m = Mesh(nodes, [[0, 1, 2, 3], [1, 2, 3, 4]], reorient=True)
    fem = FEM(m)
    assert fem.mass().sum() == pytest.approx(m.cell_volumes.sum())
    assert m.cell_volumes[0] == pytest.approx(1 / 6)
    assert np.abs(fem.stiffness() @ np.ones(5)).max() < 1e-14
    f = nodes @ [1.0, -2.0, 0.5]
    assert f @ fem.stiffness() @ f == pytest.approx(m.cell_volumes.sum() * 5.25)
    A = m.projector([[0.1, 0.2, 0.3], [0.6, 0.6, 0.5]])
    np.testing.assert_allclose(A @ f, [0.1 - 0.4 + 0.15, 0.6 - 1.2 + 0.25])


def test_torch_values_match_scipy_and_maps(fem, mesh):
    rng = np.random.default_rng(6)
    m = mesh.n_cells
    Hs = np.einsum("eij,ekj->eik", *(2 * [rng.normal(size=(m, 2, 2))]))
    vs, wn, wc = rng.normal(size=(m, 2)), rng.random(mesh.n_nodes), rng.random(m)
    t = torch.from_numpy
    pairs = [
        (fem.stiffness_values(), fem.stiffness().data),
        (fem.stiffness_values(t(H0)), fem.stiffness(H0).data),
        (fem.stiffness_values(t(Hs)), fem.stiffness(Hs).data),
        (fem.stiffness_values(t(Hs)), fem.stiffness_map @ Hs.reshape(-1)),
        (fem.advection_values(t(V0)), fem.advection(V0).data),
        (fem.advection_values(t(vs)), fem.advection(vs).data),
        (fem.advection_values(t(vs)), fem.advection_map @ vs.reshape(-1)),
        (fem.mass_values(), fem.mass().data),
        (fem.mass_values(t(wn)), fem.mass(wn).data),
        (fem.mass_values(t(wn)), fem.mass_map() @ wn),
        (fem.mass_values(t(wc), on="cells"), fem.mass_map("cells") @ wc),
        (fem.lumped_mass_values(t(wn)), fem.lumped_mass(wn)),
        (fem.lumped_mass_values(t(wn)), fem.lumped_mass_map() @ wn),
        (fem.lumped_mass_values(t(wc), on="cells"), fem.lumped_mass_map("cells") @ wc),
        (fem.lumped_mass_values(), fem.lumped_mass()),
    ]
    for got, want in pairs:
        assert got.dtype == torch.float64
        close(got.numpy(), want)
    assert fem.stiffness_map.shape == (fem.nnz, 4 * m)
    assert fem.advection_map.shape == (fem.nnz, 2 * m)
    assert fem.mass_map().shape == (fem.nnz, mesh.n_nodes)
    # a sum of value vectors is the matrix of the sum (one pattern)
    Q = fem.to_csc(fem.mass_values() * 2.0 + fem.stiffness_values(t(H0)))
    close(Q, 2 * fem.mass() + fem.stiffness(H0))
    diag = torch.zeros(fem.nnz, dtype=torch.float64).index_add(
        0, torch.from_numpy(fem.diag_index), fem.lumped_mass_values())
    close(fem.to_csc(diag), sp.diags(fem.lumped_mass()))


def test_gradcheck():
    mesh = Mesh.from_points(np.random.default_rng(7).random((8, 2)), max_edge=0.6)
    fem = FEM(mesh)
    m, n = mesh.n_cells, mesh.n_nodes
    rng = np.random.default_rng(8)

    def leaf(*shape):
        return torch.tensor(rng.normal(size=shape), requires_grad=True)

    checks = [
        (fem.stiffness_values, leaf(2, 2)),
        (fem.stiffness_values, leaf(m, 2, 2)),
        (fem.advection_values, leaf(2)),
        (fem.advection_values, leaf(m, 2)),
        (fem.mass_values, leaf(n)),
        (lambda w: fem.mass_values(w, on="cells"), leaf(m)),
        (fem.lumped_mass_values, leaf(n)),
        (lambda w: fem.lumped_mass_values(w, on="cells"), leaf(m)),
    ]
    for f, x in checks:
        assert torch.autograd.gradcheck(f, (x,))


def test_size_sanity():
    """2·10^5 nodes assemble quickly (10^6: the slow test and docs/architecture.md)."""
    x = np.linspace(0, 1, 448)
    mesh = Mesh.grid(x, x)
    fem = FEM(mesh)
    assert fem.nnz == mesh.n_nodes + 2 * len(mesh.edges)
    assert fem.mass().sum() == pytest.approx(1.0)
    assert fem.lumped_mass().sum() == pytest.approx(1.0)
    assert np.abs(fem.stiffness(H0) @ np.ones(mesh.n_nodes)).max() < 1e-9
    H = torch.tensor(np.broadcast_to(H0, (mesh.n_cells, 2, 2)).copy(), requires_grad=True)
    fem.stiffness_values(H).sum().backward()
    assert H.grad.shape == H.shape


@pytest.mark.slow
def test_million_nodes():
    x = np.linspace(0, 1, 1001)
    mesh = Mesh.grid(x, x)
    fem = FEM(mesh)
    C, G = fem.mass(), fem.stiffness(H0)
    assert C.sum() == pytest.approx(1.0)
    assert np.abs(G @ np.ones(mesh.n_nodes)).max() < 1e-8
    A = mesh.projector(np.random.default_rng(0).random((10**5, 2)))
    assert A.shape == (10**5, mesh.n_nodes)
