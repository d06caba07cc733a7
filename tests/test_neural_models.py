"""Amortized inference on any registered model: ModelSpec through the registry, space-time
simulation specs, and ``fieldfit train-estimator --model NAME`` on models other than the
Gaussian field (the advection–diffusion SPDE, the Matérn SPDE)."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fieldfit  # noqa: F401
from fieldfit.cli import app
from fieldfit.models import build
from fieldfit.neural import load_estimator
from fieldfit.neural.recipes import build_spec
from fieldfit.neural.simulation import ModelSpec, SimulationSpec
from fieldfit.neural.train_options import spec_from_options
from fieldfit.settings import one_thread

AD_PRIORS = ["kappa=3:12:log", "c=2:20:log", "tau=3:15:log", "gamma_x=-0.05:0.05",
             "gamma_y=-0.05:0.05", "mean=-1:1"]


def test_model_spec_builds_through_the_registry():
    spec = ModelSpec("exponential", {"nugget": False})
    assert spec.build().to_spec() == build("exponential", nugget=False).to_spec()
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    # bundles saved before the registry describe their model by kind and covariance
    old = ModelSpec.from_dict({"kind": "gaussian-field", "covariance": "matern",
                               "nugget": True, "alpha": 2})
    assert old == ModelSpec("matern", {"nugget": True})
    assert ModelSpec.from_dict({"kind": "matern-spde", "alpha": 2, "nugget": True}).name == \
        "matern-spde"
    # a fixed smoothness reaches the Matérn as an option (its closed forms)
    assert ModelSpec("matern").build({"smoothness": 1.5}).covariance.smoothness == 1.5
    assert ModelSpec.of(build("gaussian", mean="zero")).options["mean"] == "zero"
    with pytest.raises(ValueError, match="unknown model"):
        ModelSpec("nope")
    with pytest.raises(ValueError, match="options"):
        ModelSpec("matern", {"colour": 1})


def test_neural_samples_are_the_models_own_draws():
    """A sample of a spec is ``model.simulate`` at the design's points, seeded from (seed, i)."""
    spec = build_spec("exponential", n_min=20, n_max=30)
    s = spec.simulate([3], seed=7)[0]
    theta, coords, r, rng = spec.draw_setting(7, 3)
    with one_thread():   # as the samples are drawn: the same BLAS, the same bits
        direct = spec.model_.simulate(coords, spec.prior.params(theta), n_replicates=r,
                                      seed=int(rng.integers(2**62)))
    np.testing.assert_array_equal(s.values, direct)
    np.testing.assert_array_equal(s.coords, coords)


def test_space_time_spec_simulates_time_slices():
    spec = spec_from_options("advection-diffusion", AD_PRIORS, n_min=8, n_max=10,
                             design="uniform", time_steps=4)
    assert spec.time_steps == 4 and spec.rows_range == (4, 4)
    s = spec.simulate([0], seed=1)[0]
    n = len(s.coords)
    assert s.values.shape == (4, n)
    # the rows are the time slices of the model's own draw at (stations × times)
    theta, coords, r, rng = spec.draw_setting(1, 0)
    pts = spec.points(coords)
    assert pts.shape == (4 * n, 3) and np.all(pts[:n, 2] == 0) and np.all(pts[-n:, 2] == 3)
    with one_thread():
        direct = spec.model_.simulate(pts, spec.prior.params(theta), n_replicates=1,
                                      seed=int(rng.integers(2**62)))
    np.testing.assert_array_equal(s.values, direct.reshape(4, n))
    again = SimulationSpec.from_dict(spec.to_dict())
    np.testing.assert_array_equal(again.simulate([0], seed=1)[0].values, s.values)
    with pytest.raises(ValueError, match="time_steps"):
        SimulationSpec(spec.model, spec.prior, spec.design)
    with pytest.raises(ValueError, match="give a prior"):
        spec_from_options("advection-diffusion", ["kappa=3:12:log"], n_min=8, n_max=10)


@pytest.mark.parametrize("model, extra", [
    ("advection-diffusion", [*sum((["--prior", p] for p in AD_PRIORS), []), "--time-steps",
                             "3", "--fix", "nugget=0.1"]),
    ("matern-spde", ["--prior", "range=0.1:0.4:log", "--fix", "variance=1"]),
])
def test_train_estimator_on_an_spde_model(tmp_path, model, extra):
    """``train-estimator --model NAME`` on a tiny problem: simulations from the model's own
    ``simulate``, a saved bundle that rebuilds the model and estimates within the prior."""
    out = tmp_path / "est.pt"
    torch.manual_seed(0)
    res = CliRunner().invoke(app, [
        "train-estimator", "--out", str(out), "--model", model, *extra,
        "--design", "uniform", "--n-min", "12", "--n-max", "16", "--train", "24",
        "--val", "8", "--epochs", "2", "--width", "4", "--on-the-fly", "--no-progress",
        "--diagnostics", "20"])
    assert res.exit_code == 0, res.output
    est = load_estimator(out)
    assert est.spec.model.name == model
    assert est.spec.model_.to_spec()["model"] == model
    assert est.metadata["n_train"] == 24 and len(est.metadata["training"]["val"]) == 2
    assert (tmp_path / "est.diagnostics.json").is_file()   # --diagnostics 20, beside OUT
    a, b = est.spec.simulate([5, 6], seed=9)
    items = [(x.coords, x.values) if x.times is None else (x.coords, x.values, x.times)
             for x in (a, b)]
    table = est.estimate(items)
    assert len(table) == 2
    values = table[list(est.spec.prior.names)].to_numpy()
    assert np.all(np.isfinite(values))
    assert np.abs(values[0] - values[1]).max() > 0  # the network reads the data


def test_train_estimator_options_are_checked_before_any_work(tmp_path):
    """train_options.TrainOptions holds every default and refuses bad values; the CLI passes only
    what it was given."""
    from fieldfit.neural.train_options import TrainOptions

    assert TrainOptions().epochs == 100 and TrainOptions().estimator == "quantile"
    for bad in ({"train": 0}, {"lr": -1.0}, {"max_minutes": 0.0}, {"n_min": 1.5}):
        with pytest.raises(ValueError):
            TrainOptions(**bad)
    out = tmp_path / "x.pt"
    for args, words in ((["--train", "0"], "--train"), (["--estimator", "magic"], "magic"),
                        (["--model", "nope"], "unknown model")):
        res = CliRunner().invoke(app, ["train-estimator", "--out", str(out), *args,
                                       "--on-the-fly", "--no-progress"])
        assert res.exit_code == 2 and words in res.output, res.output
        assert not out.exists() and not (tmp_path / "x-simulations").exists()


def test_spec_for_a_linear_mean_and_anisotropy():
    """Any covariance and mean of the registry: the mean's coefficients and the anisotropy
    need priors, and the samples are the model's draws with them."""
    base = ["range=0.05:0.3:log", "variance=0.5:2:log", "nugget=0:0.2"]
    with pytest.raises(ValueError, match=r"beta_x0.*beta_x1.*beta_intercept|beta_intercept"):
        spec_from_options("exponential", base, model_options={"mean": "linear"})
    spec = spec_from_options("exponential", base + ["beta_intercept=-1:1", "beta_x0=-2:2",
                                                    "beta_x1=-2:2", "angle=-1.5:1.5",
                                                    "ratio=0.2:1"],
                             n_min=30, n_max=40,
                             model_options={"mean": "linear", "anisotropic": True})
    m = spec.model_
    assert m.mean.kind == "linear" and "angle" in m.param_space().names
    s = spec.simulate([0], seed=2)[0]
    theta, coords, r, rng = spec.draw_setting(2, 0)
    with one_thread():
        direct = m.simulate(coords, spec.prior.params(theta), seed=int(rng.integers(2**62)))
    np.testing.assert_array_equal(s.values, direct)
