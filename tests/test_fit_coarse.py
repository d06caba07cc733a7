"""The coarse-to-fine search of ``fit``: a coarser mesh (given meshes too), then BFGS on the asked
model preconditioned by the coarse optimum's inverse Hessian; same optimum as a direct search."""

import numpy as np
import pytest

from fieldfit import Observations, fit
from fieldfit.fit import mle
from fieldfit.models.spde_field import SPDEField
from fieldfit.spde import Mesh

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("kind", ["grid", "scattered"])
def test_coarsened_mesh(kind):
    if kind == "grid":
        m = Mesh.grid(np.linspace(0, 1, 32), np.linspace(0, 1, 32))
    else:
        m = Mesh.from_points(np.random.default_rng(0).random((400, 2)), offset=0.1)
    c = m.coarsened(2.0)
    assert m.n_nodes / 6 < c.n_nodes < m.n_nodes / 1.8
    assert 1.6 < np.median(c.edge_lengths) / np.median(m.edge_lengths) < 2.4
    lo, hi = m.bbox
    assert np.all(c.bbox[0] <= lo + 1e-12) and np.all(c.bbox[1] >= hi - 1e-12)  # covers it
    with pytest.raises(ValueError, match="exceed 1"):
        m.coarsened(0.5)
    with pytest.raises(ValueError, match="2-D"):
        Mesh.interval(0, 1, 10).coarsened()


def test_preconditioned_bfgs_on_a_quadratic():
    """With the exact inverse Hessian as first metric, BFGS's first step is Newton's."""
    rng = np.random.default_rng(3)
    B = rng.standard_normal((4, 4))
    A = B @ B.T + 0.1 * np.eye(4)
    a = rng.standard_normal(4)

    def f(u):
        d = u - a
        return 0.5 * d @ A @ d, A @ d

    lo, hi = np.full(4, -10.0), np.full(4, 10.0)
    res = mle._preconditioned_bfgs(f, np.zeros(4), np.linalg.inv(A), lo, hi, 100)
    assert res is not None and res.nit <= 2
    np.testing.assert_allclose(res.x, a, atol=1e-6)
    # an optimum outside the search box: refused (L-BFGS-B takes over)
    assert mle._preconditioned_bfgs(f, np.zeros(4), np.linalg.inv(A), lo, np.full(4, 1e-3),
                                    100) is None


def test_given_mesh_coarse_start_reaches_the_direct_optimum(monkeypatch):
    mesh = Mesh.grid(np.linspace(-0.3, 1.3, 25), np.linspace(-0.3, 1.3, 25))
    rng = np.random.default_rng(2)
    pts = rng.random((400, 2))
    truth = {"variance": 1.0, "range": 0.3, "nugget": 0.1, "mean": 1.0}
    y = SPDEField(mesh=mesh).simulate(pts, truth, seed=4)[0]
    obs = Observations(coords=pts, values=y)
    model = SPDEField(mesh=mesh)
    assert model.coarse() is not None and model.coarse().mesh.n_nodes < mesh.n_nodes / 2
    res = fit(model, obs, restarts=0)
    assert "coarser mesh" in res.message and "BFGS preconditioned" in res.message
    direct_model = SPDEField(mesh=mesh)
    monkeypatch.setattr(direct_model, "coarse", lambda: None)
    direct = fit(direct_model, obs, restarts=0)
    assert abs(res.loglik - direct.loglik) < 1e-5
    for k in truth:
        assert abs(res.params[k] - direct.params[k]) < 1e-3 * direct.stderr[k], k
