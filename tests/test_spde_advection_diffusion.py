"""The advection–diffusion SPDE's space-time precision against a dense construction of the
implicit-Euler scheme, its log-determinant against dense slogdet, gradients against finite
differences."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fieldfit.params import ParamSpace
from fieldfit.spde import Mesh
from fieldfit.spde.advection_diffusion import AdvectionDiffusionSPDE
from fieldfit.spde.fem import FEM
from fieldfit.spde.fields import RadialBasisField

T = torch.float64


def _mesh(k=6):
    x = np.linspace(0.0, 1.0, k)
    return Mesh.grid(x, np.linspace(0.0, 0.8, k - 1))


def _params(model, **over):
    space = ParamSpace(model.param_specs())
    p = {k: torch.tensor(float(v), dtype=T) for k, v in space.natural().items()}
    p.update(kappa=torch.tensor(3.0, dtype=T), c=torch.tensor(0.7, dtype=T),
             tau=torch.tensor(1.3, dtype=T))
    for k, v in over.items():
        p[k] = torch.tensor(float(v), dtype=T)
    return p


def _dense_reference(model, p):
    """Q = Lᵀ W L and its pieces, built densely from scipy FEM matrices."""
    fem: FEM = model.fem
    N, Tn = model.n_space, model.n_times
    H = model.H(p).detach().numpy()
    kappa, c, tau = (float(p[k]) for k in ("kappa", "c", "tau"))
    Ct = np.diag(fem.lumped_mass())
    Ci = np.linalg.inv(Ct)
    K = kappa**2 * Ct + fem.stiffness(H).toarray()
    Ka = K if model.alpha == 1 else K @ Ci @ K
    op = Ka.copy()
    if model.advection:
        g = model.gamma(p).detach().numpy()
        op += fem.advection(g).toarray()
        if model.stabilization:
            op += fem.to_csc(model._stabilization(model.gamma(p), model.H(p))
                             .detach().numpy()).toarray()
    D = Ct + model.dt / c * op
    Qs = {0: Ct, 1: K, 2: K @ Ci @ K}[model.alpha_s]
    Sinv = c / (tau**2 * model.dt) * Ci @ Qs @ Ci
    a = model.alpha + model.alpha_s
    Qinit = 2.0 / tau**2 * K
    for _ in range(a - 1):
        Qinit = Qinit @ Ci @ K
    L = np.zeros((N * Tn, N * Tn))
    W = np.zeros_like(L)
    L[:N, :N] = np.eye(N)
    W[:N, :N] = Qinit
    for k in range(1, Tn):
        s = slice(k * N, (k + 1) * N)
        L[s, s] = D
        L[s, (k - 1) * N:k * N] = -Ct
        W[s, s] = Sinv
    return L.T @ W @ L, D


@pytest.mark.parametrize("alpha,alpha_s", [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)])
def test_precision_and_logdet_equal_the_dense_scheme(alpha, alpha_s):
    model = AdvectionDiffusionSPDE(_mesh(), n_times=4, dt=0.5, alpha=alpha, alpha_s=alpha_s,
                                   anisotropic=True)
    p = _params(model, gamma_x=0.8, gamma_y=-0.5, H_ratio=1.7, H_angle=0.4)
    Q_ref, D = _dense_reference(model, p)
    Q = model.precision(p).toarray()
    np.testing.assert_allclose(Q, Q_ref, rtol=1e-10, atol=1e-10 * np.abs(Q_ref).max())
    assert not np.allclose(D, D.T)  # advection makes the step operator non-symmetric
    _, ld = model.precision_and_logdet(p)
    sign, ref = np.linalg.slogdet(Q_ref)
    assert sign == 1
    # (dense LU of Q, whose condition number reaches 1e12 for α = α_s = 2: agreement to 1e-9)
    np.testing.assert_allclose(float(ld), ref, rtol=1e-9)


def test_no_advection_and_no_stabilization_paths():
    model = AdvectionDiffusionSPDE(_mesh(), n_times=3, advection=False)
    assert {"gamma_x", "gamma_y"}.isdisjoint(n for n in (s.name for s in model.param_specs()))
    p = _params(model)
    Q_ref, D = _dense_reference(model, p)
    np.testing.assert_allclose(model.precision(p).toarray(), Q_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(D, D.T, atol=1e-14)


def test_stabilization_weight_limits():
    """δ_T γγᵀ: → h²γγᵀ/(12 γ̂ᵀHγ̂) as Pe → 0; h|γ|(1 − 1/Pe)γ̂γ̂ᵀ/2 for large Pe (coth → 1),
    with γ̂ᵀHγ̂ = 1, Pe = |γ|h/2."""
    model = AdvectionDiffusionSPDE(_mesh(), n_times=2)
    H = torch.eye(2, dtype=T)
    h = model._h
    for speed, ref in ((1e-6, h**2 / 12 * 1e-12), (1e6, h * 1e6 / 2 * (1 - 2 / (1e6 * h)))):
        g = torch.tensor([speed, 0.0], dtype=T)
        s = model._stabilization(g, H)
        expected = model.fem.stiffness_values(ref[:, None, None]
                                              * torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=T))
        np.testing.assert_allclose(s.numpy(), expected.numpy(), rtol=2e-6,
                                   atol=1e-12 * float(expected.abs().max()))


def test_gradients_against_finite_differences():
    kf = RadialBasisField.grid("gamma_x", (0, 1, 0, 0.8, 0, 1.5), (2, 2, 2), value=0.5,
                               link="identity")
    gf = RadialBasisField.grid("gamma_y", (0, 1, 0, 0.8, 0, 1.5), (2, 2, 2), value=-0.2,
                               link="identity")
    hf = RadialBasisField.grid("H_scale", (0, 1, 0, 0.8), (2, 2), value=1.0)
    model = AdvectionDiffusionSPDE(_mesh(5), n_times=4, dt=0.5, alpha=1, alpha_s=1,
                                   anisotropic=True, gamma_fields=(kf, gf), H_field=hf)
    assert model._time_varying
    space = ParamSpace(model.param_specs())
    assert "H_scale" not in space.free_names
    rng = np.random.default_rng(0)
    u0 = space.pack()
    u0 = u0 + torch.from_numpy(0.3 * rng.standard_normal(len(u0)))
    w = torch.from_numpy(rng.standard_normal(model.nnz))

    def f(u):
        q, ld = model.precision_and_logdet(space.unpack(u))
        return (q * w).sum() * 1e-3 + ld

    assert torch.autograd.gradcheck(f, (u0.clone().requires_grad_(),))
    # the time-varying log-determinant against dense slogdet
    p = space.unpack(u0)
    _, ld = model.precision_and_logdet(p)
    np.testing.assert_allclose(float(ld), np.linalg.slogdet(model.precision(p).toarray())[1],
                               rtol=1e-10)


def test_identifiability_scaling_leaves_the_model_unchanged():
    """(κ², H, c, γ, τ²) → (sκ², sH, s^α c, s^α γ, s^{α+α_s} τ²) gives the same Q."""
    for alpha, alpha_s in ((1, 0), (2, 1)):
        model = AdvectionDiffusionSPDE(_mesh(), n_times=3, alpha=alpha, alpha_s=alpha_s,
                                       fix_H_scale=False)
        p = _params(model, gamma_x=0.4, gamma_y=0.3)
        s = 2.5
        q = _params(model, kappa=3.0 * math.sqrt(s), c=0.7 * s**alpha, H_scale=s,
                    gamma_x=0.4 * s**alpha, gamma_y=0.3 * s**alpha,
                    tau=1.3 * s ** ((alpha + alpha_s) / 2))
        model.stabilization = False  # its weight depends on h/|γ|, not only on the ratios
        np.testing.assert_allclose(model.precision(q).toarray(), model.precision(p).toarray(),
                                   rtol=1e-9, atol=1e-9)


def test_bad_arguments_are_refused():
    mesh = _mesh()
    with pytest.raises(ValueError, match="alpha must be 1 or 2"):
        AdvectionDiffusionSPDE(mesh, 3, alpha=3)
    with pytest.raises(ValueError, match="alpha_s"):
        AdvectionDiffusionSPDE(mesh, 3, alpha_s=3)
    with pytest.raises(ValueError, match="n_times"):
        AdvectionDiffusionSPDE(mesh, 1)
    with pytest.raises(ValueError, match="dt"):
        AdvectionDiffusionSPDE(mesh, 3, dt=0.0)
    with pytest.raises(ValueError, match="2-D"):
        AdvectionDiffusionSPDE(Mesh.line(np.linspace(0, 1, 5)), 3)
    with pytest.raises(ValueError, match="named"):
        AdvectionDiffusionSPDE(mesh, 3, gamma_fields=(
            RadialBasisField("u", [[0, 0]], 1.0, 0.0, "identity"),
            RadialBasisField("gamma_y", [[0, 0]], 1.0, 0.0, "identity")))
    assert sp.issparse(AdvectionDiffusionSPDE(mesh, 2).precision(
        _params(AdvectionDiffusionSPDE(mesh, 2))))
