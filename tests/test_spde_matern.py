"""The Matérn SPDE precision: products on patterns, covariance and variance against the
Matérn covariance, anisotropy, nonstationary fields and gradients."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
import torch

from fieldfit.covariance import Anisotropic, Matern
from fieldfit.params import ParamSpace
from fieldfit.spde import Mesh
from fieldfit.spde.fields import RadialBasisField
from fieldfit.spde.matern import MaternSPDE, PatternProduct

T = torch.float64


def _t(d):
    return {k: torch.tensor(v, dtype=T) for k, v in d.items()}


def _sym_pattern(n, density, seed):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=density, random_state=rng) + sp.eye(n)
    A = ((A + A.T) != 0).astype(float).tocsc()
    A.sort_indices()
    return A


def test_pattern_product_equals_scipy():
    A, B = _sym_pattern(30, 0.1, 0), _sym_pattern(30, 0.08, 1)
    rng = np.random.default_rng(2)
    a = rng.standard_normal(A.nnz)
    b = rng.standard_normal(B.nnz)
    w = rng.random(30) + 0.5
    Am = sp.csc_matrix((a, A.indices, A.indptr), shape=A.shape)
    Bm = sp.csc_matrix((b, B.indices, B.indptr), shape=B.shape)
    prod = PatternProduct((A.indptr, A.indices, 30), (B.indptr, B.indices, 30))
    c = prod(torch.from_numpy(a), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    C = sp.csc_matrix((c, prod.indices, prod.indptr), shape=(30, 30)).toarray()
    # C_ij = Σ_k A_ik w_k B_jk
    np.testing.assert_allclose(C, Am.toarray() @ np.diag(w) @ Bm.toarray().T, atol=1e-12)


def _column(model, p, mesh, centre):
    Q = model.precision(_t(p)).tocsc()
    c = int(np.argmin(((mesh.nodes - centre) ** 2).sum(1)))
    e = np.zeros(mesh.n_nodes)
    e[c] = 1.0
    return spl.spsolve(Q, e), c


@pytest.mark.parametrize("alpha, nu", [(2, 1.0), (3, 2.0)])
def test_covariance_matches_matern_away_from_the_boundary(alpha, nu):
    ell = 0.15
    errors = []
    for h in (0.05, 0.025):  # h/ℓ = 1/3, 1/6
        x = np.arange(-1.0, 2.0 + 1e-9, h)
        mesh = Mesh.grid(x, x)
        model = MaternSPDE(mesh, alpha=alpha)
        assert model.smoothness == nu
        col, c = _column(model, {"variance": 2.0, "range": ell}, mesh, 0.5)
        d = np.sqrt(((mesh.nodes - mesh.nodes[c]) ** 2).sum(1))
        near = d < 3 * ell
        ref = 2.0 * _matern(d[near] / ell, nu)
        errors.append(np.abs(col[near] - ref).max() / 2.0)
    # FEM discretisation error, O(h²): under 2.5 % of σ² at h = ℓ/6, and shrinking
    assert errors[1] < 0.025
    assert errors[1] < errors[0] / 2


def _matern(r, nu):
    from fieldfit.covariance.matern import matern_correlation

    return matern_correlation(torch.from_numpy(r), nu).numpy()


def test_anisotropic_covariance_matches_the_anisotropic_matern():
    x = np.arange(-1.0, 2.0 + 1e-9, 0.025)
    mesh = Mesh.grid(x, x)
    model = MaternSPDE(mesh, alpha=2, anisotropic=True)
    p = {"variance": 1.0, "range": 0.12, "angle": 0.5, "ratio": 0.5}
    col, c = _column(model, p, mesh, 0.5)
    cov = Anisotropic(Matern(1.0))
    near = np.sqrt(((mesh.nodes - mesh.nodes[c]) ** 2).sum(1)) < 0.36
    ref = cov(torch.tensor(mesh.nodes[c][None]), torch.tensor(mesh.nodes[near]),
              _t({**p, "smoothness": 1.0}))[0].numpy()
    assert np.abs(col[near] - ref).max() < 0.05
    assert abs(col[c] - 1.0) < 0.05


def test_marginal_variance_formula_in_1d():
    mesh = Mesh.interval(-3.0, 4.0, 1401)  # h = 0.005
    model = MaternSPDE(mesh, alpha=1)  # ν = 1/2: the exponential covariance
    col, c = _column(model, {"variance": 3.0, "range": 0.2}, mesh, 0.5)
    assert col[c] == pytest.approx(3.0, rel=0.01)
    d = np.abs(mesh.nodes[:, 0] - mesh.nodes[c, 0])
    near = d < 0.6
    np.testing.assert_allclose(col[near], 3.0 * np.exp(-d[near] / 0.2), atol=0.03)


def test_gradients_of_the_precision_values_with_fields():
    x = np.linspace(0, 1, 7)
    mesh = Mesh.grid(x, x)
    kf = RadialBasisField.grid("kappa", (0, 1, 0, 1), (2, 2), value=4.0)
    tf = RadialBasisField.grid("tau", (0, 1, 0, 1), (2, 2), value=2.0)
    model = MaternSPDE(mesh, alpha=2, anisotropic=True, kappa_field=kf, tau_field=tf)
    space = ParamSpace(model.param_specs())
    rng = np.random.default_rng(0)
    u0 = space.pack() + torch.from_numpy(0.2 * rng.standard_normal(len(space)))
    weights = torch.from_numpy(rng.standard_normal(model.nnz))

    def f(u):
        return (model.precision_values(space.unpack(u)) * weights).sum()

    assert torch.autograd.gradcheck(f, (u0.clone().requires_grad_(),))


@pytest.mark.parametrize("alpha,dim,aniso,fields", [
    (2, 2, False, False), (2, 2, True, True), (3, 2, True, False), (3, 2, False, True),
    (1, 1, False, False), (2, 1, False, True)])
def test_logdet_through_k_equals_dense_and_its_gradient_the_direct_one(alpha, dim, aniso, fields):
    """log|Q| = 2Σlog τ + α log|K| − (α−1)Σ log C̃ against dense slogdet; its gradient against
    the gradient of log|Q| factored directly (selected inverse of Q) and finite differences."""
    from fieldfit.gmrf import GMRF, Pattern

    if dim == 2:
        mesh = Mesh.grid(np.linspace(0, 1, 9), np.linspace(0, 1.2, 8))
        box, shape = (0, 1, 0, 1.2), (2, 2)
    else:
        mesh = Mesh.line(np.linspace(0, 1, 30))
        box, shape = (0, 1), (3,)
    kf = RadialBasisField.grid("kappa", box, shape, value=6.0) if fields else None
    tf = RadialBasisField.grid("tau", box, shape, value=1.5) if fields else None
    model = MaternSPDE(mesh, alpha=alpha, anisotropic=aniso, kappa_field=kf, tau_field=tf)
    space = ParamSpace(model.param_specs())
    rng = np.random.default_rng(alpha + 10 * dim)
    u0 = space.pack() + torch.from_numpy(0.3 * rng.standard_normal(len(space)))
    p = space.unpack(u0)
    _, ld = model.precision_and_logdet(p)
    dense = np.linalg.slogdet(model.precision(p).toarray())
    assert dense[0] == 1
    np.testing.assert_allclose(float(ld), dense[1], rtol=1e-11)

    gq = GMRF(Pattern(model.indptr, model.indices, model.n))
    u = u0.clone().requires_grad_()
    (g_k,) = torch.autograd.grad(model.precision_and_logdet(space.unpack(u))[1], u)
    (g_q,) = torch.autograd.grad(gq.factorize(model.precision_values(space.unpack(u))).logdet(),
                                 u)
    np.testing.assert_allclose(g_k.numpy(), g_q.numpy(), rtol=1e-8, atol=1e-8)
    assert torch.autograd.gradcheck(lambda v: model.precision_and_logdet(space.unpack(v))[1],
                                    (u0.clone().requires_grad_(),))


def test_anisotropy_fields_give_h_per_cell():
    """Angle and ratio fields (Fuglstad et al. 2015): with zero weights the precision is the
    constant-anisotropy one; with weights, H per cell is R(θ_e)diag(1, λ_e²)R(θ_e)ᵀ at the
    centroids, the precision matches a scipy assembly with those H_e, and it is gradchecked."""
    x = np.linspace(0, 1, 7)
    mesh = Mesh.grid(x, x)
    af = RadialBasisField.grid("angle", (0, 1, 0, 1), (2, 2), value=0.4, link="identity")
    rf = RadialBasisField.grid("ratio", (0, 1, 0, 1), (2, 2), value=1.8)
    fields = MaternSPDE(mesh, alpha=2, angle_field=af, ratio_field=rf)
    const = MaternSPDE(mesh, alpha=2, anisotropic=True)
    assert fields.anisotropic
    space = ParamSpace(fields.param_specs())
    p = space.natural({"variance": 1.3, "range": 0.3})
    q0 = const.precision(_t({"variance": 1.3, "range": 0.3, "angle": 0.4, "ratio": 1.8}))
    np.testing.assert_allclose(fields.precision(p).toarray(), q0.toarray(), rtol=1e-12,
                               atol=1e-12)
    rng = np.random.default_rng(3)
    for n in af.weight_names() + rf.weight_names():
        p[n] = torch.tensor(0.3 * rng.standard_normal(), dtype=T)
    cen = mesh.nodes[mesh.cells].mean(1)
    th = af(cen, p).numpy()
    lam = rf(cen, p).numpy()
    R = np.stack([np.stack([np.cos(th), -np.sin(th)], -1),
                  np.stack([np.sin(th), np.cos(th)], -1)], -2)
    H = R @ (np.eye(2) * np.stack([np.ones_like(lam), lam**2], -1)[:, None, :]) \
        @ np.swapaxes(R, 1, 2)
    np.testing.assert_allclose(fields.H(p).numpy(), H, rtol=1e-12, atol=1e-14)
    G = fields.fem.stiffness(H).toarray()
    kappa = 1 / 0.3
    C = np.diag(fields.fem.lumped_mass())
    K = kappa**2 * C + G
    lam_n = rf(mesh.nodes, p).numpy()
    from fieldfit.spde.matern import marginal_variance_factor

    tau = np.sqrt(marginal_variance_factor(2, 2) / (kappa**2 * 1.3 * lam_n))
    Q = np.diag(tau) @ K @ np.linalg.inv(C) @ K @ np.diag(tau)
    np.testing.assert_allclose(fields.precision(p).toarray(), Q, rtol=1e-10,
                               atol=1e-10 * np.abs(Q).max())
    u0 = space.pack({k: float(v) for k, v in p.items()})
    w = torch.from_numpy(rng.standard_normal(fields.nnz))
    assert torch.autograd.gradcheck(
        lambda u: (fields.precision_values(space.unpack(u)) * w).sum()
        + fields.precision_and_logdet(space.unpack(u))[1], (u0.clone().requires_grad_(),))


def test_bad_models_are_refused():
    mesh = Mesh.grid(np.linspace(0, 1, 4), np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="smoothness"):
        MaternSPDE(mesh, alpha=1)
    with pytest.raises(ValueError, match="integer"):
        MaternSPDE(mesh, alpha=1.5)
    with pytest.raises(ValueError, match="named"):
        MaternSPDE(mesh, kappa_field=RadialBasisField("k", [[0, 0]], 1.0))
    assert math.isclose(MaternSPDE(mesh).smoothness, 1.0)
