"""A covariance defined outside fieldfit: one ``correlation(r, p)`` method and a registration.

The covariance is defined in this file alone, as a user would (GSTools' ``cor``): the
exponential correlation ρ(r) = e^{−r}, registered under a name of its own. Everything else is
derived by fieldfit: its parameters, the matrices the exact and Vecchia engines build, its
description (``to_spec``) and the Gaussian-field model of the same name. The references are the
built-in exponential model and the Matérn with ν = 1/2: log-likelihoods, maximum likelihood
estimates, kriging, simulations and conditional simulations must agree to rounding.

The registrations are made by a module fixture and removed after it, so the rest of the suite
(which parametrises over ``fieldfit.models.available()``) never sees them.
"""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
import torch

import fieldfit as ff
from fieldfit.covariance import (
    COVARIANCES,
    Anisotropic,
    Exponential,
    Isotropic,
    covariance_from_spec,
    register_covariance,
)
from fieldfit.models import available, build, from_spec
from fieldfit.models.registry import entry


class OwnExponential(Isotropic):
    """ρ(r) = exp(−r): the only thing a new isotropic covariance has to say."""

    def correlation(self, r, p):
        return torch.exp(-r)


class PoweredExponential(Isotropic):
    """ρ(r) = exp(−r^κ) with a fixed exponent κ ∈ (0, 2]: a constructor option."""

    def __init__(self, exponent: float = 1.0):
        if not 0 < exponent <= 2:
            raise ValueError(f"the exponent must be in (0, 2], got {exponent}")
        self.exponent = float(exponent)

    def correlation(self, r, p):
        return torch.exp(-(r ** self.exponent))

    def spec_options(self):
        return {"exponent": self.exponent}


NAMES = {"test-exponential": OwnExponential, "test-powered-exponential": PoweredExponential}
TRUTH = {"variance": 1.3, "range": 0.2, "nugget": 0.1, "mean": 0.5}
ENGINES = {"exact": {}, "vecchia": {"engine": "vecchia", "neighbours": 15}}


@pytest.fixture(scope="module", autouse=True)
def registered():
    for name, cls in NAMES.items():
        register_covariance(name)(cls)
    yield
    for name in NAMES:
        del COVARIANCES[name]


@pytest.fixture(scope="module")
def data():
    """150 noisy observations of the exponential field, and 40 new locations."""
    rng = np.random.default_rng(4)
    points = rng.uniform(size=(190, 2))
    y = build("exponential").simulate(points, TRUTH, seed=5)[0]
    obs = ff.Observations(coords=points[:150], values=y[:150])
    return obs, points[150:]


def test_everything_is_derived_from_the_correlation():
    cov = OwnExponential()
    assert [p.name for p in cov.param_specs()] == ["variance", "range"]
    assert cov.name == "test-exponential" and cov.euclidean and cov.time_dims == 0
    assert cov.to_spec() == {"covariance": "test-exponential"}
    assert type(covariance_from_spec(cov.to_spec())) is OwnExponential
    p = {"variance": torch.tensor(1.7, dtype=torch.float64),
         "range": torch.tensor(0.3, dtype=torch.float64)}
    x = torch.as_tensor(np.random.default_rng(0).uniform(size=(30, 2)))
    ref = Exponential()
    np.testing.assert_allclose(cov(x, x, p).numpy(), ref(x, x, p).numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(cov.paired(x[:-1], x[1:], p).numpy(),
                               ref.paired(x[:-1], x[1:], p).numpy(), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(cov.diag(x, p).numpy(), np.full(30, 1.7))
    assert cov.initial_values(2.0, 5.0) == ref.initial_values(2.0, 5.0)


def test_registration_makes_a_model_of_the_same_name():
    assert {"test-exponential", "test-powered-exponential"} <= set(available())
    plain = set(entry("exponential").options)
    assert set(entry("test-exponential").options) == plain
    assert set(entry("test-powered-exponential").options) == plain | {"exponent"}
    assert entry("test-powered-exponential").options["exponent"] == 1.0
    model = build("test-powered-exponential", exponent=0.5)
    assert isinstance(model.covariance, PoweredExponential)
    assert model.covariance.exponent == 0.5
    with pytest.raises(ValueError, match="exponent must be in"):
        build("test-powered-exponential", exponent=3.0)
    with pytest.raises(ValueError, match="already registered"):
        register_covariance("test-exponential")(OwnExponential)
    with pytest.raises(ValueError, match="already registered"):
        register_covariance("matern")(OwnExponential)


def test_an_unregistered_covariance_has_no_description():
    class Unregistered(OwnExponential):
        pass

    with pytest.raises(ValueError, match="no registered description"):
        Unregistered().to_spec()
    with pytest.raises(ValueError, match="no registered description"):
        ff.GaussianField(Unregistered()).to_spec()
    assert Unregistered().name == "unregistered"
    with pytest.raises(ValueError, match="unknown covariance 'test-exponentia'"):
        covariance_from_spec({"covariance": "test-exponentia"})


@pytest.mark.parametrize("engine", ENGINES)
def test_log_likelihood_equals_the_built_in_one(engine, data):
    obs, _ = data
    options = ENGINES[engine]
    own = build("test-exponential", **options)
    ll = float(own.log_likelihood(obs, TRUTH))
    assert np.isfinite(ll)
    assert ll == pytest.approx(float(build("exponential", **options).log_likelihood(obs, TRUTH)),
                               rel=0, abs=1e-10)
    matern = build("matern", smoothness=0.5, **options)
    assert ll == pytest.approx(float(matern.log_likelihood(obs, TRUTH)), rel=0, abs=1e-10)
    powered = build("test-powered-exponential", exponent=1.0, **options)
    assert ll == pytest.approx(float(powered.log_likelihood(obs, TRUTH)), rel=0, abs=1e-10)


@pytest.mark.parametrize("engine", ENGINES)
def test_fit_and_kriging_equal_the_built_in_ones(engine, data):
    obs, new = data
    options = ENGINES[engine]
    own, ref = build("test-exponential", **options), build("exponential", **options)
    res = ff.fit(own, obs, restarts=0, progress=False)
    res_ref = ff.fit(ref, obs, restarts=0, progress=False)
    assert res.model == "test-exponential" and res.engine == res_ref.engine
    for name, value in res_ref.params.items():
        assert res.params[name] == pytest.approx(value, rel=1e-8)
    assert res.loglik == pytest.approx(res_ref.loglik, rel=0, abs=1e-8)
    for name, se in res_ref.stderr.items():
        assert res.stderr[name] == pytest.approx(se, rel=1e-6)
    # the estimates are those of the data: near the parameters that generated them
    assert res.params["range"] == pytest.approx(TRUTH["range"], rel=0.6)
    table, table_ref = ff.krige(own, obs, new, res), ff.krige(ref, obs, new, res_ref)
    np.testing.assert_allclose(table[["mean", "sd"]].to_numpy(),
                               table_ref[["mean", "sd"]].to_numpy(), rtol=1e-8, atol=1e-10)
    assert np.all(table["sd"] > 0)
    draws = ff.conditional_simulation(own, obs, new, res, n_samples=3, seed=7)
    draws_ref = ff.conditional_simulation(ref, obs, new, res_ref, n_samples=3, seed=7)
    np.testing.assert_allclose(draws, draws_ref, rtol=1e-7, atol=1e-8)


def test_simulation_equals_the_built_in_one(data):
    obs, _ = data
    own, ref = build("test-exponential"), build("exponential")
    a = own.simulate(obs.coords, TRUTH, n_replicates=2, seed=11)
    np.testing.assert_allclose(a, ref.simulate(obs.coords, TRUTH, n_replicates=2, seed=11),
                               rtol=0, atol=1e-12)
    assert a.shape == (2, obs.n)
    assert np.abs(a - own.simulate(obs.coords, TRUTH, n_replicates=2, seed=12)).max() > 1e-3


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("options", [{}, {"anisotropic": True}, {"mean": "linear"}])
def test_spec_round_trips_through_the_registry(engine, options, data):
    obs, _ = data
    model = build("test-exponential", **ENGINES[engine], **options)
    spec = model.to_spec()
    reference = build("exponential", **ENGINES[engine], **options).to_spec()
    assert spec == {**reference, "model": "test-exponential"}
    again = from_spec(json.loads(json.dumps(spec)))
    assert isinstance(again.covariance, Anisotropic if options.get("anisotropic")
                      else OwnExponential)
    assert again.to_spec() == spec
    params = dict(TRUTH, angle=0.3, ratio=0.5) if options.get("anisotropic") else TRUTH
    if options.get("mean") == "linear":
        params = {k: v for k, v in params.items() if k != "mean"}
    assert float(again.log_likelihood(obs, params)) == pytest.approx(
        float(model.log_likelihood(obs, params)), rel=0, abs=1e-10)
    powered = build("test-powered-exponential", exponent=0.7, **ENGINES[engine])
    assert powered.to_spec()["exponent"] == 0.7
    assert from_spec(powered.to_spec()).covariance.exponent == 0.7


def test_the_extension_points_documentation_runs():
    import fieldfit.covariance.base as base
    import fieldfit.models.gaussian_field as gaussian_field

    for module in (base, gaussian_field):
        failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert attempted > 0 and failed == 0, module.__name__
