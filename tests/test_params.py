"""Param / ParamSpace: transforms, packing, validation, Jacobians, priors, search boxes."""

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from fieldfit import GaussianField, Matern, Observations, Param, ParamSpace, priors
from fieldfit.params import (
    Interval,
    Positive,
    Transform,
    interval,
    parse_assignments,
    positive,
    real,
)


def _t(x):
    return torch.as_tensor(x, dtype=torch.float64)


def _logit(p):
    return math.log(p) - math.log1p(-p)


@pytest.fixture
def space():
    return ParamSpace([
        Param("variance", positive, 1.5),
        Param("share", interval(0.2, 3.0), 0.7),
        Param("mean", real, -0.4),
        Param("smoothness", positive, 1.5, fixed=True),
    ])


# --- transforms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transform, xs",
    [
        (positive, [1e-12, 1e-3, 0.3, 1.0, 7.0, 1e8]),
        (interval(-1.0, 2.5), [-0.999, -0.3, 0.0, 1.0, 2.49]),
        (interval(0.05, 30.0), [0.051, 1.5, 29.9]),
        (real, [-1e6, -2.5, 0.0, 3.25, 1e6]),
    ],
    ids=["positive", "interval(-1,2.5)", "interval(0.05,30)", "real"],
)
def test_transform_round_trip(transform, xs):
    x = _t(xs)
    u = transform.inverse(x)
    assert u.dtype == torch.float64 and torch.isfinite(u).all()
    torch.testing.assert_close(transform.forward(u), x, rtol=1e-12, atol=1e-14)
    # and the other way round, from unconstrained values
    us = _t([-8.0, -1.0, 0.0, 0.5, 6.0])
    torch.testing.assert_close(transform.inverse(transform.forward(us)), us, rtol=1e-9,
                               atol=1e-9)


def test_transform_formulas():
    np.testing.assert_allclose(float(positive.inverse(_t(2.0))), math.log(2.0), rtol=1e-15)
    np.testing.assert_allclose(float(positive.forward(_t(-1.0))), math.exp(-1.0), rtol=1e-15)
    iv = Interval(1.0, 5.0)
    np.testing.assert_allclose(float(iv.inverse(_t(2.0))), _logit(0.25), rtol=1e-14)
    np.testing.assert_allclose(float(iv.forward(_t(0.0))), 3.0, rtol=1e-15)
    # far in the tails the values stay in [lower, upper] (they round onto the ends)
    lo, hi = iv.forward(_t(-50.0)), iv.forward(_t(50.0))
    assert 1.0 <= float(lo) < 1.0 + 1e-12 and 5.0 - 1e-12 < float(hi) <= 5.0
    assert float(real.forward(_t(-3.5))) == -3.5 and float(real.inverse(_t(4.0))) == 4.0
    assert isinstance(positive, Positive) and type(real) is Transform


@pytest.mark.parametrize("bad", [0.0, -1e-300, -2.0, float("nan"), float("inf")])
def test_positive_check_rejects(bad):
    with pytest.raises(ValueError, match="'range'"):
        positive.check(bad, "range")


@pytest.mark.parametrize("bad", [0.2, 3.0, 0.1, 5.0, float("nan"), float("-inf")])
def test_interval_check_rejects(bad):
    with pytest.raises(ValueError, match="'share'"):
        interval(0.2, 3.0).check(bad, "share")


def test_interval_needs_lower_below_upper():
    with pytest.raises(ValueError, match="lower < upper"):
        Interval(1.0, 1.0)
    with pytest.raises(ValueError, match="lower < upper"):
        Interval(2.0, 1.0)


def test_real_check_rejects_only_non_finite():
    real.check(-1e300, "beta")
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError, match="finite"):
            real.check(bad, "beta")


# --- Param ---------------------------------------------------------------------------------


def test_param_validates_value_and_fixed():
    with pytest.raises(ValueError, match="positive"):
        Param("variance", positive, -1.0)
    with pytest.raises(ValueError, match="positive"):
        Param("variance", positive, 0.0)
    with pytest.raises(ValueError, match=r"\(0.2, 3\)"):
        Param("share", interval(0.2, 3.0), 3.5)
    with pytest.raises(ValueError, match="fixed but has no value"):
        Param("range", positive, fixed=True)
    Param("range", positive)  # no value and free: allowed (a value comes later)


def test_param_search_box_validation():
    p = Param("smoothness", positive, 1.0, search=(0.05, 30.0))
    assert p.search == (0.05, 30.0)
    with pytest.raises(ValueError, match="lo < hi"):
        Param("smoothness", positive, 1.0, search=(2.0, 2.0))
    with pytest.raises(ValueError, match="lo < hi"):
        Param("smoothness", positive, 1.0, search=(3.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        Param("smoothness", positive, 1.0, search=(0.0, 3.0))
    with pytest.raises(ValueError, match="positive"):
        Param("smoothness", positive, 1.0, search=(-1.0, 3.0))
    with pytest.raises(ValueError, match="must lie in"):
        Param("share", interval(0.0, 1.0), 0.5, search=(0.1, 1.0))  # hi on the boundary
    with pytest.raises(ValueError, match="finite"):
        Param("beta", real, 0.0, search=(-float("inf"), 1.0))


def test_duplicated_names_rejected():
    with pytest.raises(ValueError, match="duplicated parameter name 'range'"):
        ParamSpace([Param("range", positive, 1.0), Param("range", positive, 2.0)])


# --- ParamSpace: inspection, pack / unpack --------------------------------------------------


def test_names_free_fixed(space):
    assert space.names == ["variance", "share", "mean", "smoothness"]
    assert space.free_names == ["variance", "share", "mean"]
    assert space.fixed_values == {"smoothness": 1.5}
    assert len(space) == 4 and "share" in space and "nugget" not in space
    with pytest.raises(KeyError, match="unknown parameter 'nugget'"):
        space["nugget"]


def test_pack_unpack_round_trip(space):
    values = {"variance": 0.37, "share": 2.2, "mean": -3.1}
    u = space.pack(values)
    assert u.shape == (3,) and u.dtype == torch.float64
    np.testing.assert_allclose(
        u.numpy(), [math.log(0.37), _logit((2.2 - 0.2) / 2.8), -3.1], rtol=1e-13)
    nat = space.unpack(u)
    assert list(nat) == space.names  # fixed ones included, in order
    for k, v in values.items():
        np.testing.assert_allclose(float(nat[k]), v, rtol=1e-13)
    assert float(nat["smoothness"]) == 1.5
    # unconstrained -> natural -> unconstrained
    u2 = _t([-2.0, 0.8, 11.0])
    back = space.pack({k: float(v) for k, v in space.unpack(u2).items() if k != "smoothness"})
    torch.testing.assert_close(back, u2, rtol=1e-12, atol=1e-12)
    # defaults fill in what is not given
    np.testing.assert_allclose(space.pack({"mean": 0.0}).numpy(),
                               [math.log(1.5), _logit(0.5 / 2.8), 0.0], rtol=1e-13)


def test_unpack_is_differentiable(space):
    u = _t([0.1, -0.2, 0.3]).requires_grad_(True)
    nat = space.unpack(u)
    (g,) = torch.autograd.grad(nat["variance"] + nat["share"] + nat["mean"], u)
    s = 1 / (1 + math.exp(0.2))
    np.testing.assert_allclose(g.numpy(), [math.exp(0.1), 2.8 * s * (1 - s), 1.0], rtol=1e-13)


def test_pack_unpack_errors(space):
    with pytest.raises(ValueError, match="positive"):
        space.pack({"variance": -1.0})
    with pytest.raises(ValueError, match="must lie in"):
        space.pack({"share": 0.2})
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        space.unpack(_t([0.0, 1.0]))
    with pytest.raises(ValueError, match="no value for parameter 'range'"):
        ParamSpace([Param("range", positive)]).pack()


def test_empty_free_vector():
    s = ParamSpace([Param("nugget", positive, 0.1, fixed=True)])
    u = s.pack()
    assert u.shape == (0,)
    assert float(s.unpack(u)["nugget"]) == 0.1
    assert s.jacobian_diag(u).shape == (0,)
    assert s.search_bounds() == []


# --- ParamSpace: fix / with_values / validate / natural ------------------------------------


def test_fix_returns_new_space(space):
    s2 = space.fix(variance=2.0, mean=0.5)
    assert s2.free_names == ["share"]
    assert s2.fixed_values == {"variance": 2.0, "mean": 0.5, "smoothness": 1.5}
    assert space.free_names == ["variance", "share", "mean"]  # the original is unchanged
    u = s2.pack({"share": 1.0})
    assert u.shape == (1,)
    assert float(s2.unpack(u)["variance"]) == 2.0
    assert s2["share"].transform.name == "interval(0.2, 3)"


@pytest.mark.parametrize("bad", [{"variance": 0.0}, {"variance": -3.0},
                                 {"variance": float("nan")}, {"share": 3.0},
                                 {"share": -1.0}, {"mean": float("inf")}])
def test_fix_with_values_validate_reject_bad_values(space, bad):
    with pytest.raises(ValueError):
        space.fix(**bad)
    with pytest.raises(ValueError):
        space.with_values(**bad)
    with pytest.raises(ValueError):
        space.validate(bad)
    with pytest.raises(ValueError):
        space.natural(bad)


def test_unknown_names_raise_key_error(space):
    # as implemented: ParamSpace.__getitem__ raises KeyError naming the parameter
    with pytest.raises(KeyError, match="unknown parameter 'nugget'"):
        space.fix(nugget=0.1)
    with pytest.raises(KeyError, match="unknown parameter 'nugget'"):
        space.with_values(nugget=0.1)
    with pytest.raises(KeyError, match="unknown parameter 'nugget'"):
        space.validate({"nugget": 0.1})


def test_with_values_and_natural(space):
    s2 = space.with_values(variance=4.0, share=1.0)
    assert s2["variance"].value == 4.0 and not s2["variance"].fixed
    assert space["variance"].value == 1.5
    np.testing.assert_allclose(s2.pack().numpy()[:2], [math.log(4.0), _logit(0.8 / 2.8)],
                               rtol=1e-13)
    nat = space.natural({"variance": 3.0, "smoothness": 9.0})
    assert float(nat["variance"]) == 3.0
    assert float(nat["smoothness"]) == 1.5  # fixed values are forced
    assert float(nat["mean"]) == -0.4
    space.validate({"variance": 1e-300, "share": 2.999, "mean": -1e300})  # no error


# --- Jacobian -------------------------------------------------------------------------------


@pytest.mark.parametrize("u", [[0.3, -1.2, 2.0], [-4.0, 3.5, -7.0], [0.0, 0.0, 0.0]])
def test_jacobian_diag_against_finite_differences(space, u):
    u = _t(u)
    J = space.jacobian_diag(u)
    assert J.shape == (3,)
    h = 1e-6
    free = space.free_names
    for i, name in enumerate(free):
        e = torch.zeros(3, dtype=torch.float64)
        e[i] = h
        fd = (float(space.unpack(u + e)[name]) - float(space.unpack(u - e)[name])) / (2 * h)
        np.testing.assert_allclose(float(J[i]), fd, rtol=1e-8, err_msg=name)
        # off-diagonal: the other parameters do not move
        for other in free:
            if other != name:
                assert float(space.unpack(u + e)[other]) == float(space.unpack(u)[other])
    s = 1 / (1 + math.exp(-float(u[1])))
    np.testing.assert_allclose(J.numpy(), [math.exp(float(u[0])), 2.8 * s * (1 - s), 1.0],
                               rtol=1e-12)


# --- priors ----------------------------------------------------------------------------------


@pytest.fixture
def prior_space():
    return ParamSpace([
        Param("variance", positive, 1.0, prior=priors.LogNormal(0.0, 0.5)),
        Param("share", interval(0.0, 2.0), 0.5, prior=priors.Bound(0.0, 2.0)),
        Param("mean", real, 0.0, prior=priors.Normal(2.0, 0.5)),
        Param("range", positive, 0.3, prior=priors.Gamma(2.0, 4.0)),
        Param("nugget", positive, 0.1),  # no prior
        Param("smoothness", positive, 1.5, fixed=True, prior=priors.Exponential(1.0)),
    ])


def test_log_prior_is_sum_of_log_probs(prior_space):
    vals = {"variance": 1.7, "share": 0.4, "mean": 1.1, "range": 0.25, "nugget": 0.3,
            "smoothness": 1.5}
    ref = (D.LogNormal(_t(0.0), _t(0.5)).log_prob(_t(1.7))
           + D.Uniform(_t(0.0), _t(2.0)).log_prob(_t(0.4))
           + D.Normal(_t(2.0), _t(0.5)).log_prob(_t(1.1))
           + D.Gamma(_t(2.0), _t(4.0)).log_prob(_t(0.25)))
    lp = prior_space.log_prior(vals)
    assert lp.dtype == torch.float64
    np.testing.assert_allclose(float(lp), float(ref), rtol=1e-13)
    # closed forms, independent of torch.distributions
    by_hand = (-math.log(1.7 * 0.5 * math.sqrt(2 * math.pi)) - math.log(1.7) ** 2 / (2 * 0.25)
               - math.log(2.0)
               - math.log(0.5 * math.sqrt(2 * math.pi)) - (1.1 - 2.0) ** 2 / (2 * 0.25)
               + 2 * math.log(4.0) - math.lgamma(2.0) + math.log(0.25) - 4.0 * 0.25)
    np.testing.assert_allclose(float(lp), by_hand, rtol=1e-12)
    # the fixed parameter's prior is not counted; changing a prior-less value changes nothing
    assert float(prior_space.log_prior({**vals, "nugget": 5.0, "smoothness": 9.0})) == float(lp)
    # no priors: zero
    assert float(ParamSpace([Param("a", real, 0.0)]).log_prior({"a": 3.0})) == 0.0


def test_log_prior_is_differentiable(prior_space):
    v = {k: _t(x).requires_grad_(True) for k, x in
         {"variance": 1.7, "share": 0.4, "mean": 1.1, "range": 0.25}.items()}
    (g,) = torch.autograd.grad(prior_space.log_prior(v), [v["mean"]])
    np.testing.assert_allclose(float(g), -(1.1 - 2.0) / 0.25, rtol=1e-13)


def test_sample_prior_seeded(prior_space):
    s = prior_space.fix(nugget=0.2)  # the only prior-less parameter fixed
    a = s.sample_prior(5000, seed=11)
    b = s.sample_prior(5000, seed=11)
    c = s.sample_prior(5000, seed=12)
    assert set(a) == set(s.names)
    for k in s.names:
        assert a[k].shape == (5000,) and a[k].dtype == np.float64
        np.testing.assert_array_equal(a[k], b[k])
    for k in s.free_names:
        assert not np.array_equal(a[k], c[k])
    np.testing.assert_array_equal(a["nugget"], np.full(5000, 0.2))
    np.testing.assert_array_equal(a["smoothness"], np.full(5000, 1.5))
    # the draws follow their priors (Monte Carlo tolerance: 5 standard errors)
    tol = lambda sd: 5 * sd / math.sqrt(5000)  # noqa: E731
    assert abs(a["mean"].mean() - 2.0) < tol(0.5)
    assert abs(np.log(a["variance"]).mean()) < tol(0.5)
    assert abs(a["range"].mean() - 0.5) < tol(math.sqrt(2.0) / 4.0)
    assert a["share"].min() >= 0.0 and a["share"].max() <= 2.0
    assert abs(a["share"].mean() - 1.0) < tol(2 / math.sqrt(12))


def test_sample_prior_leaves_global_rng_alone(prior_space):
    s = prior_space.fix(nugget=0.2)
    torch.manual_seed(123)
    ref = torch.rand(3)
    torch.manual_seed(123)
    s.sample_prior(10, seed=5)
    np.testing.assert_array_equal(torch.rand(3).numpy(), ref.numpy())


def test_sample_prior_without_prior_raises(prior_space):
    with pytest.raises(ValueError, match="'nugget' has no prior"):
        prior_space.sample_prior(3, seed=0)


# --- search boxes ----------------------------------------------------------------------------


def test_search_bounds_unconstrained():
    s = ParamSpace([
        Param("variance", positive, 1.0),
        Param("smoothness", positive, 1.0, search=(0.05, 30.0)),
        Param("share", interval(0.0, 2.0), 0.5, search=(0.5, 1.5)),
        Param("beta", real, 0.0, search=(-3.0, 4.0)),
        Param("fixed_one", positive, 2.0, fixed=True, search=(1.0, 3.0)),
    ])
    b = s.search_bounds()
    assert len(b) == len(s.free_names) == 4  # fixed parameters have no bounds
    assert b[0] == (None, None)
    np.testing.assert_allclose(b[1], [math.log(0.05), math.log(30.0)], rtol=1e-14)
    np.testing.assert_allclose(b[2], [_logit(0.25), _logit(0.75)], rtol=1e-13)
    np.testing.assert_allclose(b[3], [-3.0, 4.0], rtol=0)
    # the unconstrained bounds map back to the natural box
    for (lo, hi), name in zip(b[1:], ["smoothness", "share", "beta"], strict=True):
        tr = s[name].transform
        np.testing.assert_allclose([float(tr.forward(_t(lo))), float(tr.forward(_t(hi)))],
                                   s[name].search, rtol=1e-13)
    # fixing a parameter drops its bounds, order of the others kept
    b2 = s.fix(smoothness=1.5).search_bounds()
    assert b2 == [b[0], b[2], b[3]]


def test_model_space_has_the_matern_search_box():
    x = np.random.default_rng(0).uniform(size=(10, 2))
    obs = Observations(coords=x, values=np.arange(10.0))
    s = GaussianField(Matern(smoothness_search=(0.2, 8.0))).param_space(obs)
    assert s.free_names == ["variance", "range", "smoothness", "nugget"]
    b = s.search_bounds()
    assert b[0] == b[1] == b[3] == (None, None)
    np.testing.assert_allclose(b[2], [math.log(0.2), math.log(8.0)], rtol=1e-14)
    assert GaussianField(Matern(smoothness=1.5)).param_space().search_bounds() == [
        (None, None)] * 3


@pytest.mark.parametrize("prior, ref, x", [
    (priors.Bound(0.5, 3.0), D.Uniform(_t(0.5), _t(3.0)), [0.7, 2.9]),
    (priors.Bound(0.1, 10.0, "loguniform"), None, [0.2, 5.0]),
    (priors.Normal(1.0, 2.0), D.Normal(_t(1.0), _t(2.0)), [-3.0, 0.5]),
    (priors.LogNormal(0.3, 0.7), D.LogNormal(_t(0.3), _t(0.7)), [0.2, 4.0]),
    (priors.Gamma(3.0, 2.0), D.Gamma(_t(3.0), _t(2.0)), [0.1, 2.5]),
    (priors.Exponential(1.5), D.Exponential(_t(1.5)), [0.01, 3.0]),
])
def test_priors_densities_draws_and_descriptions(prior, ref, x):
    """log densities against torch.distributions (log-uniform: its closed form), −∞ outside
    the support, draws by seed that follow the density (KS test), and plain-data round trips."""
    lp = prior.log_prob(_t(x))
    if ref is None:   # log-uniform: 1/(θ log(b/a))
        expect = -np.log(x) - math.log(math.log(10.0 / 0.1))
    else:
        expect = ref.log_prob(_t(x)).numpy()
    np.testing.assert_allclose(lp.numpy(), expect, rtol=1e-13)
    lo, hi = prior.support
    if math.isfinite(lo):
        assert float(prior.log_prob(lo - 1.0)) == -math.inf
    a, b = prior.sample(4000, 3), prior.sample(4000, 3)
    np.testing.assert_array_equal(a, b)
    grid = np.sort(a)
    cdf = np.cumsum(np.exp(prior.log_prob(_t(grid)).numpy())[:-1] * np.diff(grid))
    # the empirical CDF of the draws against the density integrated over them
    ks = np.max(np.abs(cdf - np.arange(1, len(grid)) / len(grid)))
    assert ks < 0.04, ks
    assert priors.prior_from_dict(prior.to_dict()) == prior


def test_param_prior_must_be_a_fieldfit_prior():
    with pytest.raises(TypeError, match="fieldfit.priors"):
        Param("range", positive, 1.0, prior=D.Gamma(_t(2.0), _t(4.0)))


def test_penalised_fit_is_the_posterior_mode():
    """fit(..., priors=...) maximises ℓ + log p: with a tight prior on the range the
    estimate moves to it, and the optimum's penalised log-likelihood beats its neighbours."""
    from fieldfit import Exponential, fit

    rng = np.random.default_rng(4)
    x = rng.uniform(size=(80, 2))
    model = GaussianField(Exponential(), nugget=0.01)
    y = model.simulate(x, {"variance": 1.0, "range": 0.2, "nugget": 0.01, "mean": 0.0},
                       seed=2)[0]
    obs = Observations(coords=x, values=y)
    free = fit(model, obs, restarts=0, progress=False)
    tight = priors.LogNormal(math.log(0.6), 0.05)
    pen = fit(model, obs, restarts=0, progress=False, priors={"range": tight})
    assert abs(pen.params["range"] - 0.6) < abs(free.params["range"] - 0.6)
    assert abs(math.log(pen.params["range"] / 0.6)) < 0.15

    def penalised(r, v):
        p = {"range": r, "variance": v, "nugget": 0.01}
        return float(model.log_likelihood(obs, p) + tight.log_prob(r))
    best = penalised(pen.params["range"], pen.params["variance"])
    np.testing.assert_allclose(pen.loglik, best, rtol=1e-8)
    for dr in (0.97, 1.03):
        assert penalised(pen.params["range"] * dr, pen.params["variance"]) < best


# --- parse_assignments: the command line's --fix and --params -------------------------------


def test_parse_assignments_reads_names_and_values():
    assert parse_assignments(["a=1, b = 2.5", "c=-3e-2", ""]) == {"a": 1.0, "b": 2.5,
                                                                  "c": -0.03}
    assert parse_assignments([]) == {} and parse_assignments(None) == {}


@pytest.mark.parametrize("items, match", [
    (["a=1,a=2"], r"parameter 'a' is given twice \(a=1 and a=2\)"),
    (["a=1", "b=0.5", "a=1"], r"parameter 'a' is given twice"),
    (["range=nan"], r"value of 'range' must be a finite number, got 'nan'"),
    (["range=inf"], r"value of 'range' must be a finite number, got 'inf'"),
    (["variance=-Infinity"], r"must be a finite number"),
    (["=1"], r"a parameter name is missing before '=' in '=1'"),
    (["range"], r"expected name=value, got 'range'"),
    (["range=abc"], r"value of 'range' is not a number: 'abc'"),
    (["range="], r"value of 'range' is not a number: ''"),
])
def test_parse_assignments_refuses(items, match):
    with pytest.raises(ValueError, match=match):
        parse_assignments(items)


def test_parse_assignments_names_the_option():
    with pytest.raises(ValueError, match=r"^--fix: parameter 'a' is given twice"):
        parse_assignments(["a=1,a=2"], option="--fix")
    with pytest.raises(ValueError, match=r"^--params: expected name=value"):
        parse_assignments(["nugget"], option="--params")


def test_unknown_parameter_suggests_the_close_name(space):
    with pytest.raises(KeyError, match=r"unknown parameter 'varaince' \(did you mean "
                                       r"'variance'\?\)"):
        space.fix(varaince=0.1)
    with pytest.raises(KeyError) as e:
        space.fix(zzz=0.1)
    assert "did you mean" not in str(e.value)
