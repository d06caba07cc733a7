"""The latent-GMRF likelihood (SPDE engine) against the dense Gaussian likelihood of the same
discretised model, values and gradients."""

import math

import numpy as np
import pytest
import torch

from fieldfit.gmrf import Pattern
from fieldfit.likelihood.gmrf import GMRFEngine
from fieldfit.spde import Mesh
from fieldfit.spde.matern import MaternSPDE

T = torch.float64


def _setup(replicates=1, seed=0):
    x = np.linspace(-0.5, 1.5, 9)
    mesh = Mesh.grid(x, x)
    spde = MaternSPDE(mesh, alpha=2, anisotropic=True)
    rng = np.random.default_rng(seed)
    pts = rng.random((40, 2))
    A = mesh.projector(pts)
    X = np.column_stack([np.ones(40), pts[:, 0]])
    y = rng.standard_normal((replicates, 40)) + 2.0
    engine = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), A)
    return spde, engine, torch.from_numpy(A.toarray()), torch.from_numpy(X), torch.from_numpy(y)


def _dense(spde, A, X, y, p, beta=None):
    """log N(y; Xβ̂, A Q⁻¹ Aᵀ + τ²I) by dense algebra (β̂ by GLS when not given)."""
    Qv = spde.precision_values(p)
    Q = torch.zeros(spde.n, spde.n, dtype=T)
    Q[torch.from_numpy(spde.indices), torch.from_numpy(
        np.repeat(np.arange(spde.n), np.diff(spde.indptr)))] = Qv
    S = A @ torch.linalg.solve(Q, A.T) + p["nugget"] * torch.eye(A.shape[0], dtype=T)
    Si = torch.linalg.inv(S)
    if beta is None:
        with torch.no_grad():
            beta = torch.linalg.solve(X.T @ Si @ X, X.T @ Si @ y.mean(0))
    r = y - (X @ beta)[None, :]
    n = y.shape[1]
    return (-0.5 * torch.einsum("ki,ij,kj->", r, Si, r)
            - 0.5 * y.shape[0] * (torch.logdet(S) + n * math.log(2 * math.pi)))


@pytest.mark.parametrize("replicates", [1, 3])
def test_likelihood_and_gradient_equal_the_dense_computation(replicates):
    spde, engine, A, X, y = _setup(replicates)
    vals = {"variance": 1.3, "range": 0.3, "angle": 0.3, "ratio": 0.7, "nugget": 0.2}
    out = []
    for which in ("gmrf", "dense"):
        p = {k: torch.tensor(v, dtype=T, requires_grad=True) for k, v in vals.items()}
        if which == "gmrf":
            ll = engine.log_likelihood(spde.precision_values(p), p["nugget"], y, X)
        else:
            ll = _dense(spde, A, X, y, p)
        g = torch.autograd.grad(ll, list(p.values()))
        out.append((float(ll), np.array([float(v) for v in g])))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-7, atol=1e-9)


def test_given_mean_and_gls_equal_the_dense_ones():
    spde, engine, A, X, y = _setup()
    p = {k: torch.tensor(v, dtype=T) for k, v in
         {"variance": 1.0, "range": 0.25, "angle": 0.0, "ratio": 1.0, "nugget": 0.1}.items()}
    beta = torch.tensor([1.5, 0.4], dtype=T)
    ll = engine.log_likelihood(spde.precision_values(p), p["nugget"], y, X, beta=beta)
    assert float(ll) == pytest.approx(float(_dense(spde, A, X, y, p, beta)), rel=1e-10)
    b, cov = engine.gls(spde.precision_values(p), p["nugget"], y, X)
    Qd = torch.from_numpy(spde.precision(p).toarray())
    S = A @ torch.linalg.solve(Qd, A.T) + 0.1 * torch.eye(40, dtype=T)
    Si = torch.linalg.inv(S)
    np.testing.assert_allclose(b, torch.linalg.solve(X.T @ Si @ X, X.T @ Si @ y[0]), rtol=1e-9)
    np.testing.assert_allclose(cov, torch.linalg.inv(X.T @ Si @ X), rtol=1e-9)
