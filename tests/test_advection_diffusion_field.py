"""The advection–diffusion field model: likelihood, prediction and forecasting against dense
Gaussian computations with the same discretised model; CLI fit on a space-time table."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import multivariate_normal

from fieldfit import Observations
from fieldfit.models.ad_design import regular_time_grid
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField
from fieldfit.spde import Mesh

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRUTH = dict(kappa=6.0, c=20.0, tau=30.0, gamma_x=8.0, gamma_y=-5.0, nugget=0.1, mean=1.0)


def _data(n_st=12, n_t=5, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(-0.2, 1.2, 8)
    mesh = Mesh.grid(x, x)
    st = rng.random((n_st, 2))
    t = np.repeat(np.arange(n_t) * 0.1, n_st)
    pts = np.column_stack([np.tile(st, (n_t, 1)), t])
    model = AdvectionDiffusionField(mesh=mesh, alpha=1, alpha_s=1)
    y = model.simulate(pts, TRUTH, seed=seed + 1)[0]
    return model, Observations(coords=pts[:, :2], times=pts[:, 2], values=y), pts


def _dense(model, obs, p, new=None):
    spde = model.spde_for(obs)
    if new is not None:
        spde = model.spde_for(obs, int(round((new[:, 2].max() - spde.t0) / spde.dt)) + 1)
    tp = {k: torch.tensor(float(v), dtype=torch.float64) for k, v in p.items()}
    cov = np.linalg.inv(spde.precision(model._check(tp)).toarray())
    A = spde.projector(obs.points).toarray()
    S = A @ cov @ A.T + p["nugget"] * np.eye(obs.n)
    return spde, cov, A, S


def test_log_likelihood_and_gradient_against_dense():
    model, obs, _ = _data()
    _, _, _, S = _dense(model, obs, TRUTH)
    y = obs.values
    ll = float(model.log_likelihood(obs, TRUTH))
    # profiled constant mean: GLS β̂ in the dense likelihood
    one = np.ones(obs.n)
    Si = np.linalg.inv(S)
    beta = one @ Si @ y / (one @ Si @ one)
    ref = multivariate_normal(beta * one, S).logpdf(y)
    np.testing.assert_allclose(ll, ref, rtol=1e-9)
    space = model.param_space(obs)
    u0 = space.pack({k: v for k, v in TRUTH.items() if k != "mean"})

    def f(u):
        return model.log_likelihood(obs, space.unpack(u))

    assert torch.autograd.gradcheck(f, (u0.clone().requires_grad_(),), eps=1e-6, atol=1e-5,
                                    rtol=1e-4)


def test_prediction_and_forecast_equal_dense_conditioning():
    model, obs, pts = _data()
    rng = np.random.default_rng(5)
    # interpolation between steps, at a step, and a forecast two steps after the data
    new = np.column_stack([rng.random((6, 2)), [0.05, 0.2, 0.33, 0.4, 0.5, 0.6]])
    new[3:, :2] = new[3, :2]  # one location: the last step of the data, then forecasts
    p = dict(TRUTH)
    mu, sd = model.predict(obs, new, p, kind="simple", noise=False)
    spde, cov, A, S = _dense(model, obs, p, new)
    A0 = spde.projector(new).toarray()
    S0 = A0 @ cov @ A.T
    Si = np.linalg.inv(S)
    ref_mu = 1.0 + S0 @ Si @ (obs.values - 1.0)
    ref_var = np.diag(A0 @ cov @ A0.T) - np.einsum("ij,jk,ik->i", S0, Si, S0)
    np.testing.assert_allclose(mu, ref_mu, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(sd, np.sqrt(ref_var), rtol=1e-6)
    assert sd[3] < sd[4] < sd[5]  # uncertainty grows with the forecast horizon
    draws = model.conditional_simulation(obs, new, p, n_samples=4000, seed=3, kind="simple")
    assert np.all(np.abs(draws.mean(0) - ref_mu) < 5 * np.sqrt(ref_var / 4000))
    with pytest.raises(ValueError, match="outside the model's time grid"):
        model.predict(obs, np.array([[0.5, 0.5, -0.2]]), p)


def test_regular_time_grid():
    assert regular_time_grid(np.array([0.0, 0.5, 1.5, 1.5])) == (0.0, 0.5, 4)
    assert regular_time_grid(np.array([1.0, 1.3]), dt=0.1) == (1.0, 0.1, 4)
    with pytest.raises(ValueError, match="regular grid"):
        regular_time_grid(np.array([0.0, 0.4, 1.0]))
    with pytest.raises(ValueError, match="two times"):
        regular_time_grid(np.array([2.0, 2.0]))


def test_spatial_data_are_refused():
    model = AdvectionDiffusionField()
    obs = Observations(coords=np.random.default_rng(0).random((5, 2)), values=np.ones(5))
    with pytest.raises(ValueError, match="spatio-temporal"):
        model.log_likelihood(obs, TRUTH)


def test_cli_fits_a_space_time_table(tmp_path):
    from typer.testing import CliRunner

    from fieldfit.cli import app

    model, obs, pts = _data(n_st=15, n_t=6, seed=2)
    df = pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "t": pts[:, 2], "z": obs.values})
    df.loc[df.index[-3:], "z"] = np.nan  # three forecast targets
    df.to_csv(tmp_path / "d.csv", index=False)
    res = CliRunner().invoke(app, [
        "fit", str(tmp_path / "d.csv"), "--coords", "x,y", "--time", "t", "--value", "z",
        "--model", "advection-diffusion", "--out", str(tmp_path / "r.json"), "--restarts", "0",
        "--kind", "universal",
        "--predictions", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["model"] == "advection-diffusion"
    assert {"kappa", "c", "tau", "H_scale", "gamma_x", "gamma_y", "nugget"} <= set(out["params"])
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 3 and pred[["mean", "sd"]].notna().all().all()


@pytest.mark.slow
def test_recovers_kappa_c_tau_h_and_gamma():
    """Simulated from the model (625 nodes × 30 steps, 80 stations at every step, anisotropic
    H), fitted from the data-driven start: every parameter within 2.5 standard errors, the
    velocity γ/c in the right direction (a few minutes)."""
    from fieldfit import fit

    rng = np.random.default_rng(7)
    x = np.linspace(-0.3, 1.3, 25)
    mesh = Mesh.grid(x, x)
    st = rng.random((80, 2))
    n_t = 30
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(np.arange(n_t) * 0.1, len(st))])
    truth = dict(kappa=8.0, c=32.0, tau=40.0, H_ratio=1.6, H_angle=0.5, gamma_x=12.0,
                 gamma_y=-8.0, nugget=0.05, mean=1.0)
    model = AdvectionDiffusionField(mesh=mesh, alpha=1, alpha_s=1, anisotropic=True)
    y = model.simulate(pts, truth, seed=3)[0]
    obs = Observations(coords=pts[:, :2], times=pts[:, 2], values=y)
    res = fit(model, obs, restarts=0)
    for k, v in truth.items():
        assert abs(res.params[k] - v) < 2.5 * res.stderr[k], (k, res.params[k], res.stderr[k])
    g = np.array([res.params["gamma_x"], res.params["gamma_y"]])
    cos = g @ np.array([12.0, -8.0]) / (np.linalg.norm(g) * np.linalg.norm([12.0, -8.0]))
    assert cos > 0.9
