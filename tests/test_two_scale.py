"""The sum of a long- and a short-range Matérn field: the covariance against its parts and a
dense Gaussian likelihood, the Vecchia and SPDE engines against the exact one, the model
registry and the command line."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import multivariate_normal
from typer.testing import CliRunner

import fieldfit as ff
from fieldfit.cli import app
from fieldfit.covariance import Matern, TwoScaleMatern
from fieldfit.models import build, from_spec
from fieldfit.spde import Mesh
from fieldfit.spde.two_scale import TwoScaleMaternSPDE

T = torch.float64
P = {"variance": 1.0, "range": 0.3, "smoothness": 1.0, "variance_short": 0.5,
     "range_short": 0.04, "smoothness_short": 1.0, "nugget": 0.05, "mean": 0.2}


def _t(d):
    return {k: torch.tensor(v, dtype=T) for k, v in d.items()}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (250, 2))
    z = build("matern2").simulate(x, P, seed=1)[0]
    return ff.Observations(coords=x, values=z)


def test_the_covariance_is_the_sum_of_its_parts_and_its_likelihood_the_dense_one(data):
    x = torch.as_tensor(data.coords)
    cov = TwoScaleMatern()(x, x, _t(P)).numpy()
    m = Matern()
    want = (m(x, x, _t({"variance": 1.0, "range": 0.3, "smoothness": 1.0}))
            + m(x, x, _t({"variance": 0.5, "range": 0.04, "smoothness": 1.0}))).numpy()
    np.testing.assert_allclose(cov, want, rtol=1e-12, atol=1e-14)
    model = build("matern2", profile_mean=False)  # the mean a parameter: no GLS step
    dense = multivariate_normal(np.full(data.n, 0.2), want + 0.05 * np.eye(data.n))
    assert float(model.log_likelihood(data, P)) == pytest.approx(
        dense.logpdf(data.values.ravel()), rel=1e-10)
    paired = TwoScaleMatern().paired(x[:5], x[5:10], _t(P)).numpy()
    np.testing.assert_allclose(paired, np.diag(cov[:5, 5:10]), rtol=1e-12)


def test_vecchia_and_spde_against_the_exact_likelihood(data):
    exact = float(build("matern2").log_likelihood(data, P))
    vecchia = float(build("matern2", engine="vecchia", neighbours=40).log_likelihood(data, P))
    assert vecchia == pytest.approx(exact, abs=0.5)
    # the SPDE engine (α = 2: ν = 1 for both parts) on a mesh that resolves the short range
    mesh = Mesh.from_points(data.coords, max_edge=(0.01, 0.1), offset=0.35)
    spde = build("matern2", engine="spde", mesh=mesh)
    assert float(spde.log_likelihood(data, P)) == pytest.approx(exact, rel=0.01)


def test_the_spde_precision_is_block_diagonal_with_its_log_determinant():
    g = np.linspace(0, 1, 8)
    two = TwoScaleMaternSPDE(Mesh.grid(g, g))
    p = _t({"variance": 1.0, "range": 0.3, "variance_short": 0.5, "range_short": 0.1})
    q, logdet = two.precision_and_logdet(p)
    Q = sp.csc_matrix((q.numpy(), two.indices, two.indptr), shape=two.shape).toarray()
    N = two.N
    assert np.all(Q[:N, N:] == 0)
    np.testing.assert_allclose(Q[:N, :N], two.long.precision(p).toarray())
    np.testing.assert_allclose(Q[N:, N:], two.short.precision(
        {"variance": p["variance_short"], "range": p["range_short"]}).toarray())
    assert float(logdet) == pytest.approx(np.linalg.slogdet(Q)[1], rel=1e-10)


def test_registry_description_and_bad_options(data):
    model = build("matern2", smoothness=1.5)
    names = model.param_space(data).free_names
    assert {"variance", "range", "variance_short", "range_short", "smoothness_short"} <= set(
        names) and "smoothness" not in names
    assert float(from_spec(model.to_spec()).log_likelihood(
        data, {**P, "smoothness": 1.5})) == float(model.log_likelihood(
            data, {**P, "smoothness": 1.5}))
    spde = build("matern2", engine="spde", mesh_max_edge=[0.05, 0.2])
    assert spde.two_scale and from_spec(spde.to_spec()).two_scale
    with pytest.raises(ValueError, match="one smoothness for both parts"):
        build("matern2", engine="spde", smoothness=1.0, smoothness_short=2.0)
    with pytest.raises(ValueError, match="anisotropic"):
        build("matern2", anisotropic=True)
    with pytest.raises(ValueError, match="--engine spde only"):
        build("matern2", mesh_max_edge=[0.05, 0.2])


def test_the_command_line_fits_two_scales(tmp_path):
    """``fieldfit fit --model matern2`` on data of a long (0.5) and a short (0.04) range:
    the two-scale fit is nested around one Matérn and beats it (measured +3.5 in ℓ on this
    realisation, whose maximum-likelihood ranges are 0.06 and 0.01: a single realisation on
    the unit square carries little of a range of 0.5), with two distinct ranges."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (400, 2))
    truth = {**P, "range": 0.5, "variance_short": 1.0, "nugget": 0.01}
    z = build("matern2").simulate(x, truth, seed=1)[0]
    csv = tmp_path / "d.csv"
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "z": z}).to_csv(csv, index=False)
    runner = CliRunner()
    base = ["fit", str(csv), "--coords", "x,y", "--value", "z", "--restarts", "0",
            "--fix", "smoothness=1", "--no-progress"]
    res = runner.invoke(app, [*base, "--model", "matern2", "--fix", "smoothness_short=1",
                              "--out", str(tmp_path / "two.json")])
    assert res.exit_code == 0, res.output
    two = json.loads((tmp_path / "two.json").read_text())
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "one.json")])
    assert res.exit_code == 0, res.output
    one = json.loads((tmp_path / "one.json").read_text())
    assert two["loglik"] > one["loglik"] + 2, (two["loglik"], one["loglik"])
    ranges = sorted([two["params"]["range"], two["params"]["range_short"]])
    assert ranges[1] > 3 * ranges[0]
    res = runner.invoke(app, [*base, "--model", "matern2", "--engine", "spde",
                              "--mesh-max-edge", "0.03,0.2", "--out", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    spde = json.loads((tmp_path / "s.json").read_text())
    assert {"variance_short", "range_short"} <= set(spde["params"])
