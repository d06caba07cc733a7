"""The new priors (HalfNormal, InverseGamma, the PC priors, TorchPrior) against scipy, the
transforms' log-Jacobians, and the prior grammar (``--prior range=pc:0.1:0.5``)."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats as st
import torch

from fieldfit import Param, ParamSpace, priors
from fieldfit.fit.mcmc import log_jacobian
from fieldfit.params import LogInterval, interval, positive, real
from fieldfit.prior_spec import parse_prior, parse_priors

X = np.array([0.03, 0.2, 0.7, 1.5, 4.0])


def _lp(prior, x=X):
    return prior.log_prob(torch.tensor(x, dtype=torch.float64)).numpy()


# --- densities against scipy -------------------------------------------------------------------
def test_halfnormal_and_inverse_gamma_match_scipy():
    np.testing.assert_allclose(_lp(priors.HalfNormal(0.7)), st.halfnorm(scale=0.7).logpdf(X),
                               rtol=1e-12)
    np.testing.assert_allclose(_lp(priors.InverseGamma(3.0, 2.0)),
                               st.invgamma(3.0, scale=2.0).logpdf(X), rtol=1e-12)
    assert _lp(priors.HalfNormal(1.0), np.array([-0.5]))[0] == -math.inf


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_pc_range_density_normalisation_and_tail(dim):
    rho0, alpha = 0.1, 0.05
    prior = priors.PCRange(rho0, alpha, dim)
    lam = -math.log(alpha) * rho0 ** (dim / 2)
    # π(ρ) = (d/2) λ ρ^{−1−d/2} exp(−λ ρ^{−d/2}): ρ^{−d/2} ~ Exp(λ), so by change of variables
    # from scipy's exponential
    h = X ** (-dim / 2)
    expected = st.expon(scale=1 / lam).logpdf(h) + np.log(dim / 2 * X ** (-1 - dim / 2))
    np.testing.assert_allclose(_lp(prior), expected, rtol=1e-10)

    def pdf(r):
        return math.exp(float(prior.log_prob(torch.tensor(r, dtype=torch.float64))))

    total = sum(scipy.integrate.quad(pdf, a, b, limit=200)[0]
                for a, b in [(0, rho0), (rho0, 10 * rho0), (10 * rho0, np.inf)])
    assert total == pytest.approx(1.0, abs=1e-6)
    assert scipy.integrate.quad(pdf, 0, rho0)[0] == pytest.approx(alpha, rel=1e-6)


def test_pc_variance_is_exponential_on_the_sd_with_the_jacobian():
    sigma0, alpha = 2.0, 0.01
    prior = priors.PCVariance(sigma0, alpha)
    lam = -math.log(alpha) / sigma0
    s = np.sqrt(X)   # θ = σ²: p(θ) = p_σ(√θ) / (2√θ)
    np.testing.assert_allclose(_lp(prior), st.expon(scale=1 / lam).logpdf(s) - np.log(2 * s),
                               rtol=1e-10)

    def pdf(v):
        return math.exp(float(prior.log_prob(torch.tensor(v, dtype=torch.float64))))

    # P(σ > σ₀) = P(θ > σ₀²) = α
    assert scipy.integrate.quad(pdf, sigma0 ** 2, np.inf)[0] == pytest.approx(alpha, rel=1e-6)
    assert scipy.integrate.quad(pdf, 0, np.inf, limit=200)[0] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("prior, ref", [
    (priors.HalfNormal(0.5), st.halfnorm(scale=0.5)),
    (priors.InverseGamma(4.0, 3.0), st.invgamma(4.0, scale=3.0)),
    (priors.PCVariance(1.0, 0.1), None),
    (priors.PCRange(0.2, 0.5, 2), None),
])
def test_draws_follow_the_density(prior, ref):
    draws = prior.sample(4000, np.random.default_rng(1))
    if ref is None:   # the CDF by quadrature of the density
        def cdf(x):
            return scipy.integrate.quad(
                lambda t: math.exp(float(prior.log_prob(torch.tensor(t, dtype=torch.float64)))),
                0, x, limit=200)[0]
        ref_cdf = np.vectorize(cdf)
    else:
        ref_cdf = ref.cdf
    qs = np.quantile(draws, [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(ref_cdf(qs), [0.1, 0.3, 0.5, 0.7, 0.9], atol=0.025)
    np.testing.assert_array_equal(prior.sample(5, 3), prior.sample(5, 3))


def test_plain_data_round_trip_and_torch_prior():
    for p in (priors.HalfNormal(0.5), priors.InverseGamma(2.0, 1.0), priors.PCRange(0.1, 0.5, 3),
              priors.PCVariance(1.0, 0.05)):
        assert priors.prior_from_dict(p.to_dict()) == p
    beta = priors.TorchPrior(torch.distributions.Beta(torch.tensor(2.0), torch.tensor(3.0)))
    x = np.array([0.2, 0.5, 0.9])
    np.testing.assert_allclose(_lp(beta, x), st.beta(2, 3).logpdf(x), rtol=1e-6)
    assert _lp(beta, np.array([1.5]))[0] == -math.inf
    with pytest.raises(TypeError, match="not plain data"):
        beta.to_dict()


@pytest.mark.parametrize("bad, match", [
    (lambda: priors.HalfNormal(-1.0), "scale must be positive"),
    (lambda: priors.PCRange(0.1, 1.5), r"probability and must lie in \(0, 1\)"),
    (lambda: priors.PCVariance(-2.0, 0.05), "sigma0"),
])
def test_bad_prior_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


# --- the transforms' Jacobians against scipy ---------------------------------------------------
def test_log_jacobian_matches_scipy():
    space = ParamSpace([Param("a", positive, 1.0), Param("b", interval(-1.0, 3.0), 0.0),
                        Param("c", real, 0.0), Param("d", LogInterval(0.02, 0.5), 0.1)])
    u = torch.tensor([[0.3, -1.2, 5.0, -3.0], [-2.0, 4.0, 0.0, 1.5]], dtype=torch.float64)
    e = scipy.special.expit(u[:, 1].numpy())
    e3 = scipy.special.expit(u[:, 3].numpy())
    w = math.log(0.5 / 0.02)                                     # d = 0.02 · 25^σ(u)
    d = 0.02 * np.exp(w * e3)
    expected = (u[:, 0].numpy() + np.log(4.0 * e * (1 - e))    # d exp(u)/du, (b−a) σ'(u)
                + np.log(d * w * e3 * (1 - e3)))
    np.testing.assert_allclose(log_jacobian(space, u).numpy(), expected, rtol=1e-12)
    # and the autograd Jacobian of the space agrees
    np.testing.assert_allclose(np.log(space.jacobian_diag(u[0]).numpy()[[0, 1, 3]]).sum(),
                               expected[0], rtol=1e-12)
    # the log-interval's log-uniform prior is uniform in σ(u): θ's quantiles from σ(u)'s
    t = space["d"].transform
    np.testing.assert_allclose(t.forward(t.inverse(torch.tensor([0.03, 0.4], dtype=torch.float64))
                                         ).numpy(), [0.03, 0.4], rtol=1e-13)
    with pytest.raises(ValueError, match="0 < lower < upper"):
        LogInterval(0.0, 1.0)


# --- the grammar ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("range=pc:0.1:0.5", priors.PCRange(0.1, 0.5, 2)),
    ("time_range=pc:2:0.5", priors.PCRange(2.0, 0.5, 1)),
    ("variance=pc:1:0.01", priors.PCVariance(1.0, 0.01)),
    ("nugget=halfnormal:1", priors.HalfNormal(1.0)),
    ("mean=normal:0:10", priors.Normal(0.0, 10.0)),
    ("smoothness=lognormal:0:1", priors.LogNormal(0.0, 1.0)),
    ("kappa=gamma:2:1", priors.Gamma(2.0, 1.0)),
    ("c=exponential:3", priors.Exponential(3.0)),
    ("variance=invgamma:2:1", priors.InverseGamma(2.0, 1.0)),
    ("nugget=uniform:0:1", priors.Bound(0.0, 1.0, "uniform")),
    ("range=loguniform:0.01:1", priors.Bound(0.01, 1.0, "loguniform")),
    ("range=0.02:0.5:log", priors.Bound(0.02, 0.5, "loguniform")),   # train-estimator's form
    ("nugget=0:1", priors.Bound(0.0, 1.0, "uniform")),
    ("tau=pc-variance:1:0.05", priors.PCVariance(1.0, 0.05)),
])
def test_grammar(text, expected):
    assert parse_prior(text) == (text.split("=")[0], expected)


@pytest.mark.parametrize("text, match", [
    ("range=weibull:1:2", "unknown prior family 'weibull'"),
    ("range=logormal:0:1", "did you mean 'lognormal'"),
    ("nugget=halfnormal:-1", "scale must be positive"),
    ("nugget=halfnormal:1:2", r"takes 1 argument\(s\) \(scale\), got 2"),
    ("range=pc:0.1:1.5", r"must lie in \(0, 1\)"),
    ("range=pc:0.1", "takes 2 argument"),
    ("smoothness=pc:1:0.5", "pc is a prior for a range or a variance"),
    ("range=normal:a:1", "not all numbers"),
    ("range", "expected NAME=FAMILY:ARGS"),
    ("=normal:0:1", "name is missing"),
])
def test_grammar_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_prior(text)


def test_unknown_and_repeated_parameter_names():
    names = ["variance", "range", "nugget", "mean"]
    with pytest.raises(ValueError, match=r"unknown parameter 'rnage' \(did you mean 'range'\?\)"):
        parse_priors(["rnage=pc:0.1:0.5"], names)
    with pytest.raises(ValueError, match="given two priors"):
        parse_priors(["range=pc:0.1:0.5", "range=lognormal:0:1"], names)
    out = parse_priors(["range=pc:0.1:0.5"], names, dim=3)
    assert out == {"range": priors.PCRange(0.1, 0.5, 3)}


def test_train_estimator_priors_use_the_same_grammar_restricted_to_boxes():
    from fieldfit.neural.recipes import parse_bound
    from fieldfit.priors import Bound

    assert parse_bound("range=0.02:0.5:log") == ("range", Bound(0.02, 0.5, "loguniform"))
    assert parse_bound("range=loguniform:0.02:0.5") == parse_bound("range=0.02:0.5:log")
    assert parse_bound("nugget=uniform:0:1") == ("nugget", Bound(0.0, 1.0, "uniform"))
    with pytest.raises(ValueError, match="bounded prior.*PCRange"):
        parse_bound("range=pc:0.1:0.5")
    with pytest.raises(ValueError, match="unknown prior family 'lognorml'"):
        parse_bound("range=lognorml:0:1")
