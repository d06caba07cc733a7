"""fit in named steps: which exceptions mean "infeasible", fixed mean coefficients from Python,
the SPDE smoothness as a natural parameter, and the registry behind the CLI's models."""

import numpy as np
import pytest

import fieldfit as ff
from fieldfit.errors import NotPositiveDefinite, NumericalFailure
from fieldfit.fit import mle
from fieldfit.models import build


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(70, 2))
    covariate = rng.normal(size=(70, 1))
    model = ff.GaussianField(ff.Exponential(), mean="linear+covariates")
    truth = {"variance": 1.0, "range": 0.2, "nugget": 0.1, "beta_intercept": 0.5,
             "beta_x": 1.0, "beta_y": -0.5, "beta_c": 2.0}
    y = model.simulate(x, truth, seed=1, covariates=covariate, coord_names=["x", "y"],
                       covariate_names=["c"])[0]
    obs = ff.Observations(coords=x, values=y, covariates=covariate, coord_names=("x", "y"),
                          covariate_names=("c",))
    return model, obs


class _Failing(ff.GaussianField):
    """Raises ``error`` once the range exceeds ``above``."""

    def __init__(self, error, above):
        super().__init__(ff.Exponential())
        self.error, self.above = error, above

    def log_likelihood(self, obs, params):
        if float(params["range"]) > self.above:
            raise self.error
        return super().log_likelihood(obs, params)


def test_numerical_failures_are_infeasible_points(data):
    _, obs = data
    res = ff.fit(_Failing(NotPositiveDefinite("no"), above=0.5), obs, restarts=0,
                 progress=False, start={"range": 0.1})
    assert res.params["range"] <= 0.5 and np.isfinite(res.loglik)
    obj = mle._Objective(_Failing(NumericalFailure("no"), 0.5), obs,
                         ff.GaussianField(ff.Exponential()).param_space(obs), None)
    u = obj.space.pack({"variance": 1.0, "range": 1.0, "nugget": 0.1}).numpy()
    assert obj(u)[0] == mle.INFEASIBLE
    assert obj(u + 1e3)[0] == mle.INFEASIBLE  # exp overflow: infinite values are infeasible


@pytest.mark.parametrize("error", [ValueError("a bug"), RuntimeError("a bug"),
                                   TypeError("a bug"), KeyError("a bug")])
def test_other_exceptions_propagate(data, error):
    """Only numerical failures mean "infeasible": a programming error is not hidden as a
    bad parameter value (it used to become the objective 1e20)."""
    _, obs = data
    with pytest.raises(type(error), match="a bug"):
        ff.fit(_Failing(error, above=0.0), obs, restarts=0, progress=False)


def test_fixed_mean_coefficient_from_python(data):
    """fix={"beta_c": ...} holds that coefficient and estimates the others with the
    covariance (instead of profiling the mean out); the result equals the profile fit when
    the coefficient is fixed at its profile estimate."""
    model, obs = data
    prof = ff.fit(model, obs, restarts=0, progress=False)
    assert model.profile_mean  # the caller's model is not changed
    held = ff.fit(model, obs, fix={"beta_c": prof.params["beta_c"]}, restarts=0,
                  progress=False)
    assert model.profile_mean
    assert "beta_c" in held.fixed and held.stderr["beta_c"] is None
    assert held.stderr["beta_x"] is not None
    for k in ("variance", "range", "nugget", "beta_intercept", "beta_x", "beta_y"):
        np.testing.assert_allclose(held.params[k], prof.params[k], rtol=2e-3, atol=2e-3,
                                   err_msg=k)
    other = ff.fit(model, obs, fix={"beta_c": 0.0}, restarts=0, progress=False)
    assert other.params["beta_c"] == 0.0 and other.loglik < prof.loglik - 5


def test_spde_smoothness_is_a_natural_parameter():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(60, 2))
    model = build("matern", engine="spde", smoothness=1, mesh_max_edge=[0.15, 0.4])
    assert model.alpha == 2 and model.engine_name == "spde"
    y = model.simulate(x, {"variance": 1.0, "range": 0.2, "nugget": 0.05, "mean": 0.0},
                       seed=1)[0]
    obs = ff.Observations(coords=x, values=y)
    res = ff.fit(model, obs, fix={"smoothness": 1.0}, restarts=0, stderr=False,
                 progress=False)
    assert res.params["smoothness"] == 1.0 and "smoothness" in res.fixed
    with pytest.raises(ValueError, match=r"set by the model at 1 .*ν = α − d/2"):
        ff.fit(model, obs, fix={"smoothness": 2.0}, restarts=0, progress=False)
    # ν = 1.5 has no integer order: the rational approximation, with ν fixed there
    frac = build("matern", engine="spde", smoothness=1.5)
    assert frac.fractional and frac.param_space(obs)["smoothness"].fixed
    assert build("matern", engine="spde", smoothness=2).alpha == 3


def test_duplicated_locations_need_a_nugget():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.5], [0.3, 0.7], [0.6, 0.1]])
    obs = ff.Observations(coords=x, values=[1.0, 1.2, 0.3, -0.2, 0.5])
    assert obs.n_duplicated == 2
    res = ff.fit(ff.GaussianField(ff.Exponential()), obs, restarts=0, progress=False,
                 stderr=False)
    assert "2 observed rows repeat a location" in res.message
    with pytest.raises(ValueError, match="repeat a location without a nugget"):
        ff.fit(ff.GaussianField(ff.Exponential(), nugget=False), obs, progress=False)


def test_engine_registry_includes_the_spde_engine():
    assert ff.likelihood.engine_family("spde") == "precision"
    assert ff.likelihood.engine_family("vecchia") == "covariance"
    assert issubclass(ff.likelihood.ENGINES["spde"], ff.likelihood.Engine)
    with pytest.raises(ValueError, match="built by its model"):
        ff.likelihood.get_engine("spde")
