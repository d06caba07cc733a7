"""The advection–diffusion SPDE's scaling laws and derived quantities (models/ad_scaling.py)."""

import math

import numpy as np
import pytest

from fieldfit import Observations
from fieldfit.models.ad_scaling import derived_quantities, rescaled_params
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField
from fieldfit.spde import Mesh
from fieldfit.spde.spectral import SpectralAdvectionDiffusion

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PARAMS = {"kappa": 1.3, "c": 0.8, "tau": 2.0, "gamma_x": 0.9, "gamma_y": -0.4}
LENGTH, DURATION = 7.5, 0.2


@pytest.mark.parametrize("alpha, alpha_s, anisotropy", [(1, 1, False), (1, 1, True),
                                                         (2, 0, False), (1, 2, True)])
def test_the_continuums_covariance_is_unchanged_by_the_laws(alpha, alpha_s, anisotropy):
    """The spectral covariance at (s, t) under θ equals that at (s/L, t/T) under θ' (the
    periodic box scaled too), to rounding."""
    p = dict(PARAMS, **({"H_ratio": 0.6, "H_angle": 0.7} if anisotropy else {}))
    rng = np.random.default_rng(0)
    pts, t = rng.uniform(2.0, 8.0, (12, 2)), np.arange(4) * 0.3
    box = 10.0
    old = SpectralAdvectionDiffusion.from_params(box, box, 32, 32, p, alpha, alpha_s)
    q = rescaled_params(p, LENGTH, DURATION, alpha, alpha_s)
    new = SpectralAdvectionDiffusion.from_params(box / LENGTH, box / LENGTH, 32, 32, q,
                                                 alpha, alpha_s)
    a = old.covariance_matrix(pts, t)
    b = new.covariance_matrix(pts / LENGTH, t / DURATION)
    np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13 * np.abs(a).max())
    # and not by chance: a law left out (τ unchanged) breaks it
    wrong = SpectralAdvectionDiffusion.from_params(box / LENGTH, box / LENGTH, 32, 32,
                                                   dict(q, tau=p["tau"]), alpha, alpha_s)
    assert not np.allclose(wrong.covariance_matrix(pts / LENGTH, t / DURATION), a, rtol=1e-3)


@pytest.mark.parametrize("alpha_s", [0, 1])
def test_the_finite_element_likelihood_is_unchanged_for_alpha_one(alpha_s):
    """With the mesh and the time step scaled alike, the discretised model's log-likelihood
    of the same values is the same (α = 1: every term of the scheme scales by L⁻²)."""
    rng = np.random.default_rng(1)
    mesh = Mesh.from_points(rng.uniform(0.0, 6.0, (30, 2)), max_edge=(1.0, 3.0), offset=1.5)
    stations = rng.uniform(0.5, 5.5, (15, 2))
    times = np.arange(5) * 0.5
    obs = Observations(coords=np.tile(stations, (5, 1)), times=np.repeat(times, 15),
                       values=rng.normal(size=75))
    scaled = Observations(coords=obs.coords / LENGTH, times=obs.times / DURATION,
                          values=obs.values)
    p = dict(PARAMS, H_scale=1.0, nugget=0.1)
    old = AdvectionDiffusionField(mesh=mesh, alpha_s=alpha_s)
    new = AdvectionDiffusionField(mesh=Mesh(mesh.nodes / LENGTH, mesh.cells), alpha_s=alpha_s)
    ll_old = float(old.log_likelihood(obs, p))
    ll_new = float(new.log_likelihood(scaled, rescaled_params(p, LENGTH, DURATION, 1,
                                                              alpha_s)))
    assert ll_new == pytest.approx(ll_old, rel=1e-10, abs=1e-8)
    assert float(new.log_likelihood(scaled, p)) != pytest.approx(ll_old, rel=1e-3)
    assert new.rescaled_params(p, LENGTH, DURATION) == rescaled_params(p, LENGTH, DURATION, 1,
                                                                       alpha_s)


def test_derived_quantities_follow_the_laws_and_match_the_continuum():
    p = dict(PARAMS, H_ratio=0.5, H_angle=0.3)
    d = derived_quantities(p)
    sim = SpectralAdvectionDiffusion.from_params(10.0, 10.0, 16, 16, p)
    assert d["marginal_variance"] == pytest.approx(sim.continuum_marginal_variance(),
                                                   rel=1e-12)
    assert d["range"] == pytest.approx(math.sqrt(8.0) / 1.3)
    assert d["speed"] == pytest.approx(math.hypot(0.9, -0.4) / 0.8)
    assert d["direction"] == pytest.approx(math.degrees(math.atan2(-0.4, 0.9)))
    assert d["memory"] == pytest.approx(0.8 / 1.3**2)
    e = derived_quantities(rescaled_params(p, LENGTH, DURATION))
    assert e["range"] == pytest.approx(d["range"] / LENGTH)
    assert e["speed"] == pytest.approx(d["speed"] * DURATION / LENGTH)
    assert e["direction"] == pytest.approx(d["direction"])
    assert e["marginal_variance"] == pytest.approx(d["marginal_variance"])
    assert e["memory"] == pytest.approx(d["memory"] / DURATION)


def test_round_trip_and_bad_input():
    q = rescaled_params(rescaled_params(PARAMS, LENGTH, DURATION, 2, 1), 1 / LENGTH,
                        1 / DURATION, 2, 1)
    assert q == pytest.approx(PARAMS)
    with pytest.raises(ValueError, match="positive and finite"):
        rescaled_params(PARAMS, 0.0)
    with pytest.raises(ValueError, match="no scaling law for \\['beta_x0'\\]"):
        rescaled_params(dict(PARAMS, beta_x0=1.0), 2.0)
    with pytest.raises(ValueError, match="alpha must be 1 or 2"):
        derived_quantities(PARAMS, alpha=3)
    with pytest.raises(ValueError, match="stationary model"):
        AdvectionDiffusionField(fields={"gamma": "bspline:4x4"}).rescaled_params(PARAMS, 2.0)


def test_spectral_simulator_draws_the_continuum():
    """simulate(method="spectral"): the empirical covariance of 4,000 draws at 3 stations × 3
    times (irregular) matches the continuum's, computed independently on a wide periodic box
    (40 × 40, 256² modes) plus the plane's variance beyond its modes, within 4 Monte-Carlo
    standard errors; the mean and nugget are added."""
    p = {"kappa": 1.2, "c": 0.6, "tau": 6.0, "gamma_x": 0.8, "gamma_y": 0.3, "nugget": 0.05,
         "mean": 2.0}
    stations = np.array([[0.0, 0.0], [0.7, 0.2], [1.5, -0.4]])
    times = np.array([0.0, 0.3, 1.0])
    pts = np.column_stack([np.tile(stations, (3, 1)), np.repeat(times, 3)])
    model = AdvectionDiffusionField(simulator="spectral")
    draws = model.simulate(pts, p, n_replicates=4000, seed=3)
    assert draws.shape == (4000, 9)
    wide = SpectralAdvectionDiffusion.from_params(40.0, 40.0, 256, 256, p)
    want = wide.covariance_matrix(stations + 20.0, times)
    want[np.diag_indices(9)] += (wide.continuum_marginal_variance() - wide.marginal_variance()
                                 + p["nugget"])
    got = np.cov(draws.T)
    se = np.sqrt((np.outer(np.diag(want), np.diag(want)) + want**2) / 4000)
    assert np.abs(got - want).max() / se.max() < 4
    assert np.abs(draws.mean(0) - 2.0).max() < 4 * math.sqrt(want[0, 0] / 4000)
    assert np.abs(want[0, 3]) > 5 * se.max()   # the lag-0.3 covariance is there to test
    assert model.to_spec()["simulator"] == "spectral"
    with pytest.raises(ValueError, match="simulator must be one of"):
        AdvectionDiffusionField(simulator="fft")
    with pytest.raises(ValueError, match="stationary model"):
        AdvectionDiffusionField(fields={"gamma": "bspline:4x4"}).simulate(pts, p,
                                                                          method="spectral")


@pytest.mark.parametrize("alpha, alpha_s", [(1, 1), (2, 0), (1, 2)])
def test_params_from_derived_inverts_derived_quantities(alpha, alpha_s):
    from fieldfit.models.ad_scaling import params_from_derived

    d = {"range": 0.12, "memory": 0.4, "velocity_x": -0.7, "velocity_y": 1.1,
         "marginal_variance": 2.5, "nugget_share": 0.2, "mean": 3.0}
    p = params_from_derived(d, alpha, alpha_s)
    back = derived_quantities(p, alpha, alpha_s)
    for k in ("range", "memory", "velocity_x", "velocity_y", "marginal_variance"):
        assert back[k] == pytest.approx(d[k], rel=1e-12)
    assert p["nugget"] / (p["nugget"] + back["marginal_variance"]) == pytest.approx(0.2)
    assert p["mean"] == 3.0 and p["H_scale"] == 1.0
    sim = SpectralAdvectionDiffusion.from_params(10.0, 10.0, 8, 8, p, alpha, alpha_s)
    assert sim.continuum_marginal_variance() == pytest.approx(2.5, rel=1e-12)
    with pytest.raises(ValueError, match="nugget_share must be in"):
        params_from_derived(dict(d, nugget_share=1.0))
    with pytest.raises(ValueError, match="missing \\['memory'\\]"):
        params_from_derived({k: v for k, v in d.items() if k != "memory"})
