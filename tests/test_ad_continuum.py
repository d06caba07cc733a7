"""The continuum correction of the advection–diffusion fit (fieldfit.models.ad_continuum)."""

import json
import math

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.optimize as so
import torch

from fieldfit.data import Observations
from fieldfit.models import ad_continuum, build
from fieldfit.models.ad_continuum import _Window, continuum_correction, corrected_result
from fieldfit.spde.spectral import SpectralAdvectionDiffusion

TRUTH = {"kappa": 1.0, "c": 1.0, "tau": 5.0, "gamma_x": 1.5, "gamma_y": 0.5, "nugget": 0.05}


def _design(stations=12, times=6, dt=0.1, seed=0, values=None):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(2.0, 8.0, size=(stations, 2))
    t = np.arange(times) * dt
    z = np.zeros(stations * times) if values is None else values
    return Observations(coords=np.tile(pts, (times, 1)), times=np.repeat(t, stations),
                        values=z)


def _model():
    return build("advection-diffusion", mesh_max_edge=[0.9, 2.0], mesh_offset=1.5)


def _pseudo_true(model, obs, truth):
    """b(θ): the finite-element parameters that maximise E_θ[ℓ_h] on the whole design, by
    a full optimisation (not the correction's Newton step)."""
    space = model.param_space(obs)
    window = _Window(model, obs, space)
    assert window.W == len(np.unique(obs.times))  # the window is the whole design
    u_true = space.pack(truth).numpy()
    target = window.continuum(u_true)

    def kl(u):
        try:
            cf = sl.cho_factor(window.fem(u), lower=True)
        except np.linalg.LinAlgError:
            return 1e10
        return 0.5 * np.trace(sl.cho_solve(cf, target)) + np.log(np.diag(cf[0])).sum()

    best = so.minimize(kl, u_true, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-9})
    return space, u_true, best.x, window


@pytest.mark.parametrize("method", ["window", "simulation"])
def test_the_correction_inverts_the_binding_function(method):
    """Fed the pseudo-true value b(θ) of a coarse mesh (the estimate an infinite series
    of such data would give), the correction returns θ: its error is a small part of the
    bias (computed exactly on the window; from exact draws on the whole design, within three
    Monte-Carlo standard deviations)."""
    obs = _design(stations=25)
    model = _model()
    space, u_true, u_b, window = _pseudo_true(model, obs, TRUTH)
    b = {k: float(v) for k, v in space.unpack(torch.as_tensor(u_b)).items()}
    bias = u_b - u_true
    names = space.free_names
    assert abs(bias[names.index("kappa")]) > 0.03  # a bias worth removing
    replicates = 400
    out = continuum_correction(model, obs, b, iterations=3, method=method,
                               standard_errors=False, replicates=replicates)
    u_c = space.pack(out["estimates"]).numpy()
    err = u_c - u_true
    # the draws' Monte-Carlo sd of the shift: the design's standard errors over √replicates
    _, info, _, _ = window.expected(u_b, window.fem(u_b))
    mc = np.sqrt(np.diag(np.linalg.inv(info)) / replicates) if method == "simulation" else 0
    for k in ("kappa", "c", "tau", "gamma_x", "nugget"):
        i = names.index(k)
        tol = 0.3 * abs(bias[i]) + 0.01 + 3 * (mc[i] if method == "simulation" else 0)
        assert abs(err[i]) < tol, (k, bias[i], err[i], tol)


def test_no_shift_where_the_reference_is_the_model_itself(monkeypatch):
    """With the continuum's covariance replaced by the finite-element model's own, b is
    the identity: the estimates and their standard errors come back unchanged."""
    obs = _design()
    model = _model()
    monkeypatch.setattr(_Window, "continuum", _Window.fem)
    out = continuum_correction(model, obs, TRUTH, method="window")
    for k, v in out["estimates"].items():
        assert v == pytest.approx(TRUTH[k], rel=1e-6), k
        # no misspecification: the sandwich is the information, the binding Jacobian one
        assert out["se_factor"][k] == pytest.approx(1.0, rel=1e-3), k
    assert out["window"] == {"stations": 12, "times": 6, "step": pytest.approx(0.1)}


def test_the_reference_is_the_continuum_on_the_plane():
    """The periodic box is wide enough that nothing wraps: the window's continuum covariance
    equals the one of a box twice as wide, with twice the grid points, and its variance the
    plane's."""
    obs = _design()
    model = _model()
    space = model.param_space(obs)
    window = _Window(model, obs, space)
    u = space.pack(TRUTH).numpy()
    C = window.continuum(u)
    sim, origin = ad_continuum._reference(TRUTH, window.stations, 0.5, 1, 1)
    wide = SpectralAdvectionDiffusion.from_params(2 * sim.Lx, 2 * sim.Ly, 2 * sim.nx,
                                                  2 * sim.ny, TRUTH)
    ref = wide.covariance_matrix(window.stations - origin, window.times)
    ref[np.diag_indices_from(ref)] += TRUTH["nugget"] + ad_continuum.unresolved_variance(wide)
    np.testing.assert_allclose(C, ref, atol=2e-3 * ref.max())
    # with the unresolved modes as white noise, the variance is the plane's σ² + nugget
    assert C[0, 0] == pytest.approx(wide.continuum_marginal_variance() + TRUTH["nugget"],
                                    rel=1e-9)


def test_corrected_result_keeps_the_fit_and_the_interval_widths():
    from fieldfit.fit.results import FitResult

    r = FitResult(model="advection-diffusion", engine="spde",
                  params={"kappa": 0.8, "c": 1.0, "gamma_x": 0.3, "mean": 2.0},
                  stderr={"kappa": 0.08, "c": 0.1, "gamma_x": 0.2, "mean": 0.1}, loglik=-1.0,
                  n=10, seconds=1.0, scales={"kappa": "log", "c": "log",
                                             "gamma_x": "identity", "mean": "identity"})
    lo, hi = r.confidence_interval("kappa")
    out = corrected_result(r, {"estimates": {"kappa": 1.0, "c": 1.0, "gamma_x": 0.5},
                               "shift": {}, "window": {}})
    assert out.params["kappa"] == 1.0 and out.params["mean"] == 2.0
    lo2, hi2 = out.confidence_interval("kappa")
    assert math.log(hi2 / lo2) == pytest.approx(math.log(hi / lo))  # width on the log scale
    assert out.stderr["gamma_x"] == 0.2
    raw = out.discretisation["continuum"]["raw"]
    assert raw["params"]["kappa"] == 0.8 and raw["intervals"]["kappa"] == [lo, hi]
    assert out.discretisation["reported"] == "continuum-corrected"
    assert "continuous SPDE" in out.message
    assert json.loads(out.to_json())["discretisation"]["continuum"]["raw"]["params"]["c"] == 1.0
    wider = corrected_result(r, {"estimates": {"kappa": 1.0}, "se_factor": {"kappa": 2.0},
                                 "shift": {}, "window": {}})
    lo3, hi3 = wider.confidence_interval("kappa")
    assert math.log(hi3 / lo3) == pytest.approx(2.0 * math.log(hi / lo))


@pytest.mark.parametrize("options, message", [
    ({"fields": ["gamma=bspline:3x3"]}, "stationary model"),
    ({"alpha_s": 0}, "finite variance")])
def test_models_without_a_continuum_covariance_are_refused_before_any_work(options, message):
    model = build("advection-diffusion", **options)
    with pytest.raises(ValueError, match=message):
        continuum_correction(model, _design(), TRUTH)


def test_cli_reports_the_corrected_estimates_and_keeps_the_fit(tmp_path):
    """``fieldfit fit`` reports the continuum's estimates by default, the fit's own with
    --no-continuum, and kriges with the fit's own either way."""
    from typer.testing import CliRunner

    from fieldfit.cli import app

    sim = SpectralAdvectionDiffusion(10.0, 10.0, 64, 64, kappa=1.0, c=1.0, tau=5.0,
                                     gamma=(1.5, 0.5))
    obs = _design(stations=20, times=8)
    pts = obs.coords[:20]
    z = sim.sample_at(pts, np.arange(8) * 0.1, seed=1, nugget=0.05)[0].ravel()
    import pandas as pd

    data = tmp_path / "d.csv"
    pd.DataFrame({"x": obs.coords[:, 0], "y": obs.coords[:, 1], "t": obs.times,
                  "z": z}).to_csv(data, index=False)
    targets = tmp_path / "at.csv"
    pd.DataFrame({"x": [5.0, 4.0], "y": [5.0, 6.0], "t": [0.35, 0.5]}).to_csv(targets,
                                                                            index=False)
    runner = CliRunner()
    results = {}
    for flag in ("--continuum", "--no-continuum"):
        out, pred = tmp_path / f"{flag}.json", tmp_path / f"{flag}.csv"
        res = runner.invoke(app, ["fit", str(data), "--coords", "x,y", "--time", "t",
                                  "--value", "z", "--model", "advection-diffusion",
                                  "--restarts", "0", "--no-discretisation-check",
                                  "--predict-at", str(targets), "--predictions", str(pred),
                                  "--out", str(out), flag])
        assert res.exit_code == 0, res.output
        results[flag] = (json.loads(out.read_text()), pd.read_csv(pred))
    corrected, plain = results["--continuum"][0], results["--no-continuum"][0]
    assert corrected["discretisation"]["reported"] == "continuum-corrected"
    raw = corrected["discretisation"]["continuum"]["raw"]["params"]
    for k in ("kappa", "c", "tau"):
        assert raw[k] == pytest.approx(plain["params"][k], rel=1e-6)
        assert corrected["params"][k] != pytest.approx(raw[k], rel=1e-4)
    assert "discretisation" not in plain or plain["discretisation"] is None \
        or "continuum" not in plain["discretisation"]
    pd.testing.assert_frame_equal(results["--continuum"][1], results["--no-continuum"][1])


@pytest.mark.slow
def test_default_intervals_cover_where_the_fits_own_do_not():
    """30 stations × 120 times of the exact continuum at high signal-to-noise (field variance
    2, nugget 0.05): the fit's own interval for τ excludes the truth (the discretisation's
    bias), the reported (continuum-corrected) intervals of κ, c and τ contain it."""
    from fieldfit.fit import fit

    truth = {"kappa": 1.0, "c": 1.0, "tau": 5.0, "gamma_x": 1.0, "gamma_y": 0.5}
    sim = SpectralAdvectionDiffusion(12.0, 12.0, 72, 72, kappa=1.0, c=1.0, tau=5.0,
                                     gamma=(1.0, 0.5))
    rng = np.random.default_rng(3)
    pts = rng.uniform(3.0, 9.0, size=(30, 2))
    t = np.arange(120) * 0.1
    z = sim.sample_at(pts, t, seed=4, nugget=0.05)[0]
    obs = Observations(coords=np.tile(pts, (120, 1)), times=np.repeat(t, 30), values=z.ravel())
    model = build("advection-diffusion")
    raw = fit(model, obs, restarts=2, progress=False)
    reported = corrected_result(raw, model.continuum_correction(obs, raw.params,
                                                                hessian=raw.hessian))
    lo, hi = raw.confidence_interval("tau")
    assert not lo <= truth["tau"] <= hi
    for k in ("kappa", "c", "tau"):
        lo, hi = reported.confidence_interval(k)
        assert lo <= truth[k] <= hi, (k, lo, hi)


def test_a_covariate_mean_profiled_or_held_gives_the_same_correction():
    """The draws carry the data's covariates, and the fitted mean where its coefficients are
    parameters: the correction of a profiled mean and of one held at its value agree."""
    rng = np.random.default_rng(0)
    obs0 = _design(stations=20, times=6)
    elev = rng.normal(size=20)
    pts, t = obs0.coords[:20], np.unique(obs0.times)
    sim = SpectralAdvectionDiffusion(10, 10, 64, 64, kappa=1, c=1, tau=5, gamma=(1, 0.5))
    z = sim.sample_at(pts, t, seed=1, nugget=0.05)[0].ravel() + 0.5 * np.tile(elev, 6)
    obs = Observations(coords=obs0.coords, times=obs0.times, values=z,
                       covariates=np.tile(elev, 6)[:, None], covariate_names=("elev",))
    p = {k: v for k, v in TRUTH.items()}
    profiled = build("advection-diffusion", mean="covariates", mesh_max_edge=[0.9, 2.0])
    held = build("advection-diffusion", mean="covariates", mesh_max_edge=[0.9, 2.0],
                 profile_mean=False)
    a = continuum_correction(profiled, obs, p, standard_errors=False)
    b = continuum_correction(held, obs, {**p, "beta_intercept": 0.3, "beta_elev": 0.5},
                             standard_errors=False)
    for k in p:
        tol = {"abs": 0.03} if k.startswith("gamma") else {"rel": 0.01}
        assert b["estimates"][k] == pytest.approx(a["estimates"][k], **tol), k
    # without the fitted mean in the draws, the held model's τ would absorb it
    assert b["estimates"]["tau"] == pytest.approx(a["estimates"]["tau"], rel=0.01)


def test_replicated_data_give_the_binding_function_of_one_replicate():
    """b does not depend on the number of replicates: the draws' score is scaled to the
    data's, whose information counts them all, so one and three replicates correct alike."""
    one = _design(stations=20, times=6, values=np.random.default_rng(1).normal(size=120))
    three = Observations(coords=one.coords, times=one.times,
                         values=np.random.default_rng(2).normal(size=(3, 120)))
    model = _model()
    a = continuum_correction(model, one, TRUTH, standard_errors=False)
    b = continuum_correction(_model(), three, TRUTH, standard_errors=False)
    for k in TRUTH:
        assert b["estimates"][k] == pytest.approx(a["estimates"][k], rel=1e-6, abs=1e-9), k
