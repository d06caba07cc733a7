"""The SPDE engine against gstlearn (MINES Paris), run in the same test on the same mesh, data
and parameters: gstlearn's ``logLikelihoodSPDE`` in Cholesky mode is the exact marginal
log-likelihood of y = A x + ε for the same FEM precision, so the two must agree to rounding."""

import numpy as np
import pytest
import torch

from fieldfit.gmrf import Pattern
from fieldfit.likelihood.gmrf import GMRFEngine
from fieldfit.spde import Mesh
from fieldfit.spde.gstlearn import gstlearn_log_likelihood
from fieldfit.spde.matern import MaternSPDE

pytest.importorskip("gstlearn")

T = torch.float64


def _fieldfit(mesh, pts, y, p, anisotropic=False, constant_mean=False):
    spde = MaternSPDE(mesh, alpha=2, anisotropic=anisotropic)
    engine = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), mesh.projector(pts))
    pt = {k: torch.tensor(v, dtype=T) for k, v in p.items()}
    q, logdet = spde.precision_and_logdet(pt)
    X = torch.ones(len(y), 1, dtype=T) if constant_mean else None
    ll = engine.log_likelihood(q, pt["nugget"], torch.from_numpy(y)[None], X, logdet_q=logdet)
    ll_direct = engine.log_likelihood(q, pt["nugget"], torch.from_numpy(y)[None], X)
    return float(ll), float(ll_direct)


@pytest.mark.parametrize("mesh_kind", ["grid", "points"])
@pytest.mark.parametrize("case", ["isotropic", "anisotropic", "constant mean"])
def test_log_likelihood_equals_gstlearn(mesh_kind, case):
    rng = np.random.default_rng(3)
    pts = rng.random((250, 2))
    y = rng.standard_normal(250) + (2.0 if case == "constant mean" else 0.0)
    if mesh_kind == "grid":
        x = np.linspace(-0.1, 1.1, 31)
        mesh = Mesh.grid(x, x)
    else:
        mesh = Mesh.from_points(pts)
    p = {"variance": 1.3, "range": 0.15, "nugget": 0.2}
    if case == "anisotropic":
        p.update(angle=0.4, ratio=2.0)
    ours, direct = _fieldfit(mesh, pts, y, p, anisotropic=case == "anisotropic",
                             constant_mean=case == "constant mean")
    theirs = gstlearn_log_likelihood(mesh, pts, y, p, smoothness=1.0,
                                     constant_mean=case == "constant mean")()
    np.testing.assert_allclose(ours, theirs, rtol=1e-11)
    np.testing.assert_allclose(direct, theirs, rtol=1e-11)
    # the comparison has power: another range moves gstlearn's value by far more than 1e-11
    other = gstlearn_log_likelihood(mesh, pts, y, dict(p, range=0.16), smoothness=1.0,
                                    constant_mean=case == "constant mean")()
    assert abs(other - theirs) > 1e-5 * abs(theirs)
