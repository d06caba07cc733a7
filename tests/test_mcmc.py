"""fieldfit.sample: NUTS against closed-form posteriors, ArviZ's diagnostics, every engine,
posterior predictive kriging, infeasible points, Ctrl-C, seeds, and SBC of the sampler."""

import math

import arviz as az
import numpy as np
import pytest
import scipy.stats as st
import torch

import fieldfit
from fieldfit import Observations, models, priors
from fieldfit.errors import NumericalFailure
from fieldfit.fit.mcmc import ConvergenceWarning, default_priors, log_jacobian
from fieldfit.fit.potential import Potential

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore::fieldfit.fit.mcmc.ConvergenceWarning")]

MEAN_FIX = {"variance": 1.0, "range": 0.2, "nugget": 0.1}
MEAN_PRIOR = priors.Normal(0.2, 0.3)
IG = priors.InverseGamma(3.0, 2.0)


def _points(n, seed):
    return np.random.default_rng(seed).uniform(size=(n, 2))


@pytest.fixture(scope="module")
def mean_case():
    """Covariance fixed, a normal prior on the constant mean: a Gaussian posterior."""
    x = _points(30, 0)
    m = models.build("exponential")
    y = m.simulate(x, {**MEAN_FIX, "mean": 0.5}, seed=1)[0]
    obs = Observations(coords=x, values=y)
    post = fieldfit.sample(m, obs, fix=MEAN_FIX, priors={"mean": MEAN_PRIOR}, chains=2,
                           draws=250, warmup=50, seed=3, cores=1, progress=False)
    return m, obs, post


@pytest.fixture(scope="module")
def variance_case():
    """Zero mean, no nugget, range fixed, an inverse-gamma prior on the variance."""
    x = _points(25, 2)
    m = models.build("exponential", mean="zero", nugget=False)
    y = m.simulate(x, {"variance": 1.5, "range": 0.3}, seed=5)[0]
    obs = Observations(coords=x, values=y)
    post = fieldfit.sample(m, obs, fix={"range": 0.3}, priors={"variance": IG}, chains=2,
                           draws=250, warmup=50, seed=1, cores=1, progress=False)
    return m, obs, post


def _gaussian_posterior(m, obs):
    """β | y ~ N(mean, var) from the GLS estimate (flat-prior posterior) and the prior."""
    beta, se = m.estimate_mean(obs, MEAN_FIX)
    prec = 1 / se["mean"] ** 2 + 1 / MEAN_PRIOR.scale ** 2
    mean = (beta["mean"] / se["mean"] ** 2 + MEAN_PRIOR.loc / MEAN_PRIOR.scale ** 2) / prec
    return mean, 1 / prec


def test_mean_posterior_matches_the_closed_form(mean_case):
    m, obs, post = mean_case
    mu, var = _gaussian_posterior(m, obs)
    draws = post.draws["mean"]
    ess = float(az.ess(post.to_inference_data(), method="mean")["mean"])
    assert ess > 100
    sd = math.sqrt(var)
    assert abs(draws.mean() - mu) < 4 * sd / math.sqrt(ess)
    # the sd's Monte-Carlo error is ≈ sd / √(2 ESS)
    assert abs(draws.std() - sd) < 4 * sd / math.sqrt(2 * ess)
    assert post.divergences == 0 and not post.interrupted
    assert set(post.draws) == {"mean"} and post.fixed == MEAN_FIX
    assert post.evaluations >= 2 * (250 + 50)    # at least one gradient per NUTS step


def test_variance_posterior_matches_the_inverse_gamma(variance_case):
    m, obs, post = variance_case
    x = torch.tensor(obs.coords, dtype=torch.float64)
    R = m.covariance(x, x, {"variance": torch.tensor(1.0, dtype=torch.float64),
                            "range": torch.tensor(0.3, dtype=torch.float64)}).numpy()
    y = obs.values
    q = float(y @ np.linalg.solve(R, y))
    exact = st.invgamma(IG.concentration + len(y) / 2, scale=IG.scale + q / 2)
    draws = post.draws["variance"].ravel()
    ess = float(az.ess(post.to_inference_data(), method="bulk")["variance"])
    assert ess > 100
    # the posterior CDF at the draws' quantiles: the Jacobian of θ = exp(u) is in the density
    probs = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    tol = 4 * np.sqrt(probs * (1 - probs) / ess)
    assert np.all(np.abs(exact.cdf(np.quantile(draws, probs)) - probs) < tol)


def test_a_bounded_prior_is_sampled_inside_its_box_and_matches_quadrature():
    """A log-uniform prior on the range whose upper end cuts the likelihood (truth 0.3, box
    (0.05, 0.25)): the chains run on the logit of the unit scale and never leave the box;
    the posterior CDF by quadrature on a fine grid of log range at the draws' quantiles."""
    x = _points(25, 4)
    m = models.build("exponential", mean="zero", nugget=False)
    y = m.simulate(x, {"variance": 1.0, "range": 0.3}, seed=6)[0]
    obs = Observations(coords=x, values=y)
    prior = priors.Bound(0.05, 0.25, "loguniform")
    post = fieldfit.sample(m, obs, fix={"variance": 1.0}, priors={"range": prior}, chains=2,
                           draws=1000, warmup=150, seed=2, progress=False)
    draws = post.draws["range"].ravel()
    assert draws.min() > 0.05 and draws.max() < 0.25 and post.divergences == 0
    grid = np.exp(np.linspace(math.log(0.05), math.log(0.25), 801))
    ll = np.array([float(m.log_likelihood(obs, {"variance": torch.tensor(1.0, dtype=torch.float64),
                                                "range": torch.tensor(r, dtype=torch.float64)}))
                   for r in grid])
    w = np.exp(ll - ll.max())                   # density in log range: the prior is flat there
    cdf = np.concatenate([[0], np.cumsum(0.5 * (w[1:] + w[:-1]))])
    cdf /= cdf[-1]
    assert cdf[400] < 0.5                       # the likelihood is cut: mass near the top end
    ess = float(az.ess(post.to_inference_data(), method="bulk")["range"])
    assert ess > 500
    probs = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    at = np.interp(np.log(np.quantile(draws, probs)), np.log(grid), cdf)
    assert np.all(np.abs(at - probs) < 4 * np.sqrt(probs * (1 - probs) / ess))


def test_summary_is_arviz(variance_case, mean_case):
    for _, _, post in (variance_case, mean_case):
        idata = post.to_inference_data()
        s = post.summary()
        for name, row in s.items():
            assert row["rhat"] == pytest.approx(float(az.rhat(idata)[name]), rel=1e-12)
            assert row["ess_bulk"] == pytest.approx(float(az.ess(idata, method="bulk")[name]))
            assert row["ess_tail"] == pytest.approx(float(az.ess(idata, method="tail")[name]))
            pooled = post.draws[name].ravel()
            assert row["q2.5"] == pytest.approx(np.quantile(pooled, 0.025))
            assert row["q97.5"] == pytest.approx(np.quantile(pooled, 0.975))
            assert row["mean"] == pytest.approx(pooled.mean())
            assert row["rhat"] < 1.05


def test_inference_data_netcdf_and_table(variance_case, tmp_path):
    _, obs, post = variance_case
    path = tmp_path / "post.nc"
    post.to_netcdf(path)
    back = az.from_netcdf(path)
    np.testing.assert_array_equal(back.posterior["variance"].values, post.draws["variance"])
    assert back.sample_stats["diverging"].shape == (2, 250)
    assert back.attrs["model"] == "exponential" and "InverseGamma" not in back.attrs["priors"]
    assert '"kind": "invgamma"' in back.attrs["priors"]
    df = post.to_dataframe()
    assert len(df) == 500 and {"chain", "draw", "variance", "lp", "loglik"} <= set(df)


def test_predictive_is_the_mixture_over_the_mean_posterior(mean_case):
    """Covariance fixed, β | y ~ N(m, V): the predictive mean is the simple-kriging mean at m,
    its variance the simple-kriging variance + a² V, a = ∂μ/∂β."""
    m, obs, post = mean_case
    mu, var = _gaussian_posterior(m, obs)
    new = np.array([[0.5, 0.5], [0.05, 0.9], [2.0, 2.0]])
    mean, sd = post.predict(new, n_draws=500)
    at_m = m.predict(obs, new, {**MEAN_FIX, "mean": mu}, kind="simple")
    at_m1 = m.predict(obs, new, {**MEAN_FIX, "mean": mu + 1.0}, kind="simple")
    a = at_m1[0] - at_m[0]
    exact_sd = np.sqrt(at_m[1] ** 2 + a ** 2 * var)
    ess = float(az.ess(post.to_inference_data(), method="mean")["mean"])
    np.testing.assert_allclose(mean, at_m[0], atol=4 * math.sqrt(var) / math.sqrt(ess))
    np.testing.assert_allclose(sd, exact_sd, rtol=0.02)
    # far from the data the β uncertainty adds to the sd
    assert sd[2] > at_m[1][2] * 1.01


def test_seed_reproducible():
    x = _points(15, 4)
    m = models.build("exponential")
    obs = Observations(coords=x, values=m.simulate(x, {**MEAN_FIX, "mean": 0.0}, seed=2)[0])
    kw = dict(fix=MEAN_FIX, chains=2, draws=15, warmup=15, cores=1, progress=False)
    a = fieldfit.sample(m, obs, seed=7, **kw)
    torch.manual_seed(123)   # another global state: the same draws
    b = fieldfit.sample(m, obs, seed=7, **kw)
    c = fieldfit.sample(m, obs, seed=8, **kw)
    np.testing.assert_array_equal(a.draws["mean"], b.draws["mean"])
    assert not np.array_equal(a.draws["mean"], c.draws["mean"])
    assert not np.array_equal(a.draws["mean"][0], a.draws["mean"][1])  # chains differ
    torch.manual_seed(5)   # and the global state is left as it was
    state = torch.get_rng_state()
    fieldfit.sample(m, obs, seed=7, **kw)
    assert torch.equal(torch.get_rng_state(), state)


ENGINES = [("matern", {"smoothness": 1.0}),
           ("matern", {"smoothness": 1.0, "engine": "vecchia", "neighbours": 5}),
           ("matern-spde", {"mesh_max_edge": (0.3, 0.6)})]


@pytest.mark.parametrize("name, options", ENGINES, ids=["exact", "vecchia", "spde"])
def test_every_engine(name, options):
    x = _points(30, 0)
    truth = {"variance": 1.0, "range": 0.3, "nugget": 0.1, "mean": 0.5, "smoothness": 1.0}
    y = models.build("matern", smoothness=1.0).simulate(x, truth, seed=1)[0]
    obs = Observations(coords=x, values=y)
    m = models.build(name, **options)
    post = fieldfit.sample(m, obs, chains=2, draws=15, warmup=30, seed=0, max_tree_depth=6,
                           cores=1, progress=False)
    assert set(post.draws) == {"variance", "range", "nugget", "mean"}
    assert post.shape == (2, 15)
    for v in post.draws.values():
        assert np.all(np.isfinite(v)) and np.unique(v).size > 5   # the chains move
    # the stored lp is the log posterior density of u at the draw: ℓ + log priors + log|J|
    space = post.model.param_space(obs).fix(**post.fixed).with_priors(**post.priors)
    c, d = 1, 7
    theta = {k: torch.tensor(v[c, d], dtype=torch.float64) for k, v in post.draws.items()}
    u = space.pack({k: float(v) for k, v in theta.items()})
    full = {**theta, **{k: torch.tensor(v, dtype=torch.float64) for k, v in post.fixed.items()}}
    ll = float(post.model.log_likelihood(obs, full))
    assert post.stats["loglik"][c, d] == pytest.approx(ll, rel=1e-9)
    expected = ll + float(space.log_prior(full)) + float(log_jacobian(space, u))
    assert post.stats["lp"][c, d] == pytest.approx(expected, rel=1e-9)
    mean, sd = post.predict(np.array([[0.5, 0.5], [0.2, 0.8]]), n_draws=10)
    assert mean.shape == sd.shape == (2,) and np.all(sd > 0)


@pytest.mark.parametrize("name", models.available())
def test_every_registered_model(name):
    """A few draws of every model (test_contract's small problems): finite draws of every free
    parameter and mean coefficient, inside their domains, and a predictive sd."""
    from fieldfit.models.registry import is_space_time
    from test_contract import SMALL, _design, _obs, _truth

    st_ = is_space_time(name)
    model = models.build(name, **SMALL.get(name, {}))
    pts = _design(st_)
    obs = _obs(pts, model.simulate(pts, _truth(model, pts, st_), seed=3)[0], st_)
    post = fieldfit.sample(model, obs, chains=1, draws=4, warmup=4, max_tree_depth=3,
                           progress=False)
    space = post.model.param_space(obs)
    assert set(post.draws) == set(space.free_names) == set(post.priors)
    for k, v in post.draws.items():
        assert v.shape == (1, 4) and np.all(np.isfinite(v))
        for x in v.ravel():
            space.validate({k: float(x)})
    mean, sd = post.predict(pts[:3], n_draws=2)
    assert np.all(np.isfinite(mean)) and np.all(sd > 0)


def test_default_priors_are_proper_and_scaled_to_the_data():
    x = 10 * _points(40, 8)        # a 10 × 10 domain, values with sd ≈ 3
    m = models.build("matern")
    y = m.simulate(x, {"variance": 9.0, "range": 2.0, "nugget": 0.5, "mean": 1.0,
                       "smoothness": 1.0}, seed=2)[0]
    obs = Observations(coords=x, values=y)
    p = default_priors(m, obs)
    assert set(p) == {"variance", "range", "smoothness", "nugget", "mean"}
    assert isinstance(p["range"], priors.PCRange) and p["range"].dim == 2
    assert p["range"].rho0 == pytest.approx(obs.diameter() / 20)
    assert isinstance(p["variance"], priors.PCVariance)
    assert p["variance"].sigma0 == pytest.approx(3 * np.std(y))
    assert isinstance(p["smoothness"], priors.LogNormal)
    assert isinstance(p["mean"], priors.Normal) and p["mean"].scale > 10 * np.std(y) / 40
    for name in ("advection-diffusion", "gneiting", "separable"):
        mm = models.build(name)
        t = np.repeat(np.arange(4.0), 10)
        o = Observations(coords=x, times=t, values=y)
        dp = default_priors(mm, o)
        free = mm.param_space(o).free_names + mm.mean_names(o)
        assert set(dp) == set(free)
        for prior in dp.values():   # proper: a finite density at draws from it
            assert np.all(np.isfinite(prior.log_prob(torch.tensor(prior.sample(5, 0))).numpy()))


class _Failing:
    """A model whose likelihood fails (NumericalFailure) for range > 0.4."""

    def __init__(self, model):
        self._m = model

    def __getattr__(self, name):
        if name.startswith("__") or name == "_m":
            raise AttributeError(name)
        return getattr(self._m, name)

    def log_likelihood(self, obs, params):
        if float(params["range"].detach()) > 0.4:
            raise NumericalFailure("range too large")
        return self._m.log_likelihood(obs, params)


def test_infeasible_points_are_rejected_not_fatal():
    x = _points(20, 9)
    base = models.build("exponential", mean="zero", nugget=False)
    obs = Observations(coords=x, values=base.simulate(x, {"variance": 1.0, "range": 0.35},
                                                      seed=3)[0])
    m = _Failing(base)
    post = fieldfit.sample(m, obs, fix={"variance": 1.0}, chains=1, draws=60, warmup=40,
                           init={"range": 0.2}, priors={"range": priors.LogNormal(0.0, 1.0)},
                           progress=False)
    r = post.draws["range"]
    assert r.max() < 0.4 and r.min() < 0.35
    assert post.mle is None  # init given: no MLE


class _Interrupting:
    """A model raising KeyboardInterrupt at the ``after``-th likelihood evaluation."""

    def __init__(self, model, after):
        self._m, self.after, self.calls = model, after, 0

    def __getattr__(self, name):
        if name.startswith("__") or name == "_m":
            raise AttributeError(name)
        return getattr(self._m, name)

    def log_likelihood(self, obs, params):
        self.calls += 1
        if self.calls == self.after:
            raise KeyboardInterrupt
        return self._m.log_likelihood(obs, params)


def test_ctrl_c_keeps_the_finished_chains():
    x = _points(15, 10)
    base = models.build("exponential", profile_mean=False)
    obs = Observations(coords=x, values=base.simulate(x, {**MEAN_FIX, "mean": 0.0}, seed=4)[0])
    probe = _Interrupting(base, 10**9)
    kw = dict(fix=MEAN_FIX, chains=3, draws=20, warmup=10, init={"mean": 0.0}, cores=1,
              progress=False)
    fieldfit.sample(probe, obs, **kw)
    per_chain = probe.calls // 3
    m = _Interrupting(base, int(per_chain * 1.5))   # in the second chain
    with pytest.warns(UserWarning, match="interrupted"):
        post = fieldfit.sample(m, obs, **kw)
    assert post.interrupted and post.shape == (1, 20)
    with pytest.raises(KeyboardInterrupt):      # before any draw: nothing to keep
        fieldfit.sample(_Interrupting(base, 3), obs, **kw)


def test_bad_input_is_refused_before_sampling():
    x = _points(15, 11)
    m = models.build("exponential")
    obs = Observations(coords=x, values=np.random.default_rng(0).normal(size=15))
    with pytest.raises(KeyError, match="did you mean 'range'"):
        fieldfit.sample(m, obs, priors={"rnage": priors.HalfNormal(1.0)})
    with pytest.raises(ValueError, match="is fixed"):
        fieldfit.sample(m, obs, fix={"range": 0.2}, priors={"range": priors.HalfNormal(1.0)})
    with pytest.raises(ValueError, match="chains must be an integer"):
        fieldfit.sample(m, obs, chains=0)
    with pytest.raises(TypeError, match="torch.distributions"):
        fieldfit.sample(m, obs, priors={"range": "pc:0.1:0.5"})


@pytest.mark.slow
def test_sbc_of_the_sampler_gives_uniform_ranks():
    """Simulation-based calibration (Talts et al. 2018): θ ~ prior, y ~ p(y | θ), L thinned
    posterior draws; the rank of θ among them is uniform on {0, …, L} when the sampler is
    right."""
    x = _points(8, 12)
    m = models.build("exponential", mean="constant", nugget=False)
    prior = {"variance": IG, "mean": priors.Normal(0.0, 1.0)}
    rng = np.random.default_rng(0)
    ranks = {k: [] for k in prior}
    reps, L = 60, 19
    for i in range(reps):
        truth = {k: float(p.sample(1, rng)[0]) for k, p in prior.items()}
        y = m.simulate(x, {**truth, "range": 0.3}, seed=i)[0]
        obs = Observations(coords=x, values=y)
        post = fieldfit.sample(m, obs, fix={"range": 0.3}, priors=prior, chains=1,
                               draws=5 * L, warmup=100, seed=i, progress=False)
        for k in prior:
            d = post.draws[k].ravel()[::5][:L]
            ranks[k].append(int((d < truth[k]).sum()))
    for k, r in ranks.items():
        counts = np.bincount(np.asarray(r) // 5, minlength=4)   # 4 bins of 5 ranks
        assert st.chisquare(counts).pvalue > 0.001, (k, counts)
        assert st.kstest((np.asarray(r) + rng.uniform(size=reps)) / (L + 1),
                         "uniform").pvalue > 0.001


def test_the_potential_uses_the_matern_table_at_any_size_and_keeps_the_likelihood(monkeypatch):
    from fieldfit.covariance import matern
    from fieldfit.fit import mcmc

    x = _points(40, 3)  # 1,600 distances: the direct Bessel path by default
    model = models.build("matern", engine="exact", profile_mean=False)
    theta = {"variance": 1.0, "range": 0.2, "smoothness": 1.3, "nugget": 0.1, "mean": 0.0}
    y = model.simulate(x, theta, seed=4)[0]
    obs = Observations(coords=x, values=y)
    space = model.param_space(obs)
    u = space.pack(theta).detach().numpy()
    calls = []
    table = matern._matern_table
    monkeypatch.setattr(matern, "_matern_table",
                        lambda *a, **k: calls.append(a[2]) or table(*a, **k))
    f_tab, g_tab = Potential(model, obs, space).evaluate(u)
    assert calls and calls[0] == mcmc.TABLE_STEP
    calls.clear()
    f_ref, g_ref = Potential(model, obs, space, table_step=None).evaluate(u)
    assert not calls  # the settings in force: the Bessel function itself
    assert f_tab == pytest.approx(f_ref, rel=1e-8, abs=1e-8)
    np.testing.assert_allclose(g_tab, g_ref, rtol=1e-5, atol=1e-6)


def test_warmup_starts_from_the_mle_variances_with_a_step_size_found_for_them():
    # U(u) = ½ Σ (u_i / s_i)²: with the inverse mass matrix s² the scaled target is a standard
    # normal, so the step size found for it is of order 1, where the identity metric needs
    # one of order min s = 10⁻²
    from fieldfit.fit.chains import laplace_nuts as _nuts

    s = torch.tensor([1e-2, 3.0], dtype=torch.float64)

    def potential(z):
        return 0.5 * ((z["u"] / s) ** 2).sum()

    steps = {}
    for label, mass in (("laplace", (s ** 2).numpy()), ("identity", None)):
        torch.manual_seed(0)
        kernel = _nuts(potential, mass)
        kernel.initial_params = {"u": torch.tensor([0.003, -1.0], dtype=torch.float64)}
        kernel.setup(warmup_steps=50)
        m = kernel._adapter.mass_matrix_adapter.inverse_mass_matrix[("u",)]
        expected = s ** 2 if mass is not None else torch.ones(2, dtype=torch.float64)
        torch.testing.assert_close(m, expected)
        steps[label] = kernel.step_size
    assert steps["laplace"] > 0.3 and steps["identity"] < 0.05


def test_an_mle_start_on_the_search_box_edge_warns_only_without_a_prior_box():
    # a Gaussian-covariance field: the Matérn MLE runs to ν = 30, the search box's edge
    import warnings

    x = _points(40, 0)
    y = models.build("gaussian").simulate(
        x, {"variance": 1.0, "range": 0.3, "nugget": 1e-3, "mean": 0.0}, seed=1)[0]
    obs = Observations(coords=x, values=y)
    m = models.build("matern")
    for prior, warned in ((priors.Bound(0.5, 2.5), False), (None, True)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # a boxed mean coefficient too (as the neural estimators' priors have): it is
            # estimated by GLS, with no box to search
            boxed = {"smoothness": prior, "mean": priors.Bound(-5.0, 5.0)}
            post = fieldfit.sample(m, obs, priors=boxed if prior else None,
                                   chains=1, draws=5, warmup=5, progress=False, seed=0)
        assert post.mle.on_edge == ["smoothness"]
        edge = [w for w in caught if "edge of its search box" in str(w.message)]
        assert bool(edge) == warned
        if prior is not None:
            assert 0.5 < post.draws["smoothness"].min() <= post.draws["smoothness"].max() < 2.5
            # the start: the MLE searched inside the prior's box, the others at their optimum
            # given ν = 2.5 (not the ν = 30 optimum's range moved in with ν)
            assert post.mle.params["smoothness"] == pytest.approx(2.5, rel=1e-3)
            given = fieldfit.fit(m, obs, fix={"smoothness": post.mle.params["smoothness"]},
                                 progress=False, stderr=False)
            assert post.mle.params["range"] == pytest.approx(given.params["range"], rel=2e-3)
            assert post.mle.loglik == pytest.approx(given.loglik, abs=1e-4)


def _mean_only(n=15, seed=4):
    """The covariance fixed, the constant mean free: a one-parameter posterior."""
    x = _points(n, seed)
    m = models.build("exponential")
    return m, Observations(coords=x, values=m.simulate(x, {**MEAN_FIX, "mean": 0.0}, seed=2)[0])


def test_the_draws_do_not_depend_on_the_number_of_cores():
    # chain c is seeded from (seed, c) alone, and runs on one torch thread wherever it runs
    import warnings

    m, obs = _mean_only()
    kw = dict(fix=MEAN_FIX, chains=2, draws=10, warmup=10, seed=7, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        here = fieldfit.sample(m, obs, cores=1, **kw)
        spawned = fieldfit.sample(m, obs, cores=2, **kw)
    np.testing.assert_array_equal(here.draws["mean"], spawned.draws["mean"])
    for k in ("lp", "step_size", "tree_depth", "diverging"):
        np.testing.assert_array_equal(here.stats[k], spawned.stats[k])
    assert not np.array_equal(here.draws["mean"][0], here.draws["mean"][1])
    assert here.evaluations == spawned.evaluations


@pytest.mark.filterwarnings("ignore::fieldfit.fit.mcmc.ConvergenceWarning")
def test_the_default_warmup_fits_the_draws():
    from fieldfit.fit.mcmc import MAX_WARMUP, MIN_WARMUP, default_cores, default_warmup

    assert (MIN_WARMUP, MAX_WARMUP) == (200, 1000)
    assert [default_warmup(d) for d in (1, 199, 200, 500, 1000, 5000)] == \
        [200, 200, 200, 500, 1000, 1000]
    assert default_cores(1) == 1 and 1 <= default_cores(64) <= 64
    m, obs = _mean_only()
    post = fieldfit.sample(m, obs, fix=MEAN_FIX, chains=1, draws=5, seed=0, progress=False)
    assert post.warmup == 200 and post.shape == (1, 5)
    assert post.to_inference_data().attrs["warmup"] == 200
    with pytest.raises(ValueError, match="cores must be an integer"):
        fieldfit.sample(m, obs, fix=MEAN_FIX, cores=0)
    with pytest.raises(ValueError, match="warmup must be an integer"):
        fieldfit.sample(m, obs, fix=MEAN_FIX, warmup=-1)


def test_a_short_run_warns_once_and_lists_every_failed_check():
    m, obs = _mean_only()
    kw = dict(fix=MEAN_FIX, chains=2, draws=15, warmup=15, seed=7, cores=1, progress=False)
    with pytest.warns(ConvergenceWarning) as caught:
        post = fieldfit.sample(m, obs, **kw)
    assert len([w for w in caught if "convergence" in str(w.message)]) == 1
    checks = {(w["check"], w["parameter"]) for w in post.warnings}
    assert {("rhat", "mean"), ("ess_bulk", "mean")} <= checks   # 30 draws: ESS < 200
    summary = post.summary()["mean"]
    rhat = next(w for w in post.warnings if w["check"] == "rhat")
    assert rhat["value"] == pytest.approx(summary["rhat"]) and rhat["value"] > 1.01
    assert "R-hat of mean is" in rhat["message"] and "\n" not in rhat["message"]
    # a tree of depth 1 at most: every transition reaches the limit (or diverges)
    with pytest.warns(ConvergenceWarning):
        shallow = fieldfit.sample(m, obs, **{**kw, "max_tree_depth": 1})
    depth = shallow.stats["tree_depth"]
    assert depth.max() == 1 and shallow.to_inference_data().attrs["max_tree_depth"] == 1
    hit = next(w for w in shallow.warnings if w["check"] == "tree_depth")
    assert hit["value"] == int((depth == 1).sum()) and hit["threshold"] == 1


def test_the_convergence_checks_on_synthetic_draws():
    from fieldfit.fit.mcmc import check_convergence

    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 1000))
    stats = {"diverging": np.zeros((4, 1000), bool), "tree_depth": np.full((4, 1000), 3)}
    mixed = az.from_dict(posterior={"a": good, "b": rng.normal(size=(4, 1000))},
                         sample_stats=stats, attrs={"max_tree_depth": 10})
    assert check_convergence(mixed) == []
    # chain means apart (R-hat), a random walk (few effective draws), 3 divergences and
    # 5 transitions at the maximum depth
    shifted = good + np.arange(4)[:, None]
    walk = np.cumsum(rng.normal(size=(4, 1000)), axis=1)
    stats["diverging"][1, [3, 50, 70]] = True
    stats["tree_depth"][2, :5] = 10
    bad = az.from_dict(posterior={"a": shifted, "b": walk}, sample_stats=stats,
                       attrs={"max_tree_depth": 10})
    found = {(w["check"], w["parameter"]): w for w in check_convergence(bad)}
    assert {("rhat", "a"), ("rhat", "b"), ("ess_bulk", "b"), ("ess_tail", "b"),
            ("divergences", None), ("tree_depth", None)} <= set(found)
    assert found[("ess_bulk", "b")]["threshold"] == 400
    assert found[("divergences", None)]["value"] == 3
    assert found[("tree_depth", None)]["value"] == 5
    assert found[("rhat", "a")]["value"] == pytest.approx(float(az.rhat(bad)["a"]))
    # no maximum depth known: no depth check
    plain = az.from_dict(posterior={"a": good}, sample_stats={"tree_depth": stats["tree_depth"]})
    assert check_convergence(plain) == []
    assert [w["check"] for w in check_convergence(plain, max_tree_depth=10)] == ["tree_depth"]


def test_progress_bars_only_on_a_terminal(capfd, monkeypatch):
    monkeypatch.delenv("CI", raising=False)   # Pyro hides its bars where CI is set
    m, obs = _mean_only()
    kw = dict(fix=MEAN_FIX, chains=1, draws=5, warmup=5, seed=0, cores=1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fieldfit.sample(m, obs, **kw)                   # stderr is captured: not a terminal
        assert "%|" not in capfd.readouterr().err
        fieldfit.sample(m, obs, progress=True, **kw)
        assert "%|" in capfd.readouterr().err


def test_ctrl_c_in_a_worker_keeps_the_draws_so_far():
    # a KeyboardInterrupt inside a worker (as the stop event raises it) ends that chain with
    # its draws so far and stops the others: the longest interrupted chain is kept
    x = _points(15, 10)
    base = models.build("exponential", profile_mean=False)
    obs = Observations(coords=x, values=base.simulate(x, {**MEAN_FIX, "mean": 0.0}, seed=4)[0])
    kw = dict(fix=MEAN_FIX, chains=2, draws=200, warmup=10, init={"mean": 0.0}, cores=2,
              progress=False)
    with pytest.warns(UserWarning, match="interrupted"):
        post = fieldfit.sample(_Interrupting(base, 150), obs, **kw)
    assert post.interrupted and 0 < post.shape[1] < 200


def test_an_interrupted_run_keeps_the_chains_that_keep_the_most_draws():
    from fieldfit.fit.chains import ChainResult as _ChainResult
    from fieldfit.fit.chains import kept_chains as _kept

    def chains(*spec):   # (draws, interrupted) per chain
        return [_ChainResult([(i,) for i in range(n)], stopped, 0) for n, stopped in spec]

    rows, interrupted = _kept(chains((20, False), (20, False)), 2)
    assert [len(r) for r in rows] == [20, 20] and not interrupted
    # one after another: the finished chains, never cut
    rows, interrupted = _kept(chains((20, False), (20, False), (5, True)), 3)
    assert [len(r) for r in rows] == [20, 20] and interrupted
    rows, _ = _kept(chains((20, False), (15, True)), 2)
    assert [len(r) for r in rows] == [20]
    rows, _ = _kept(chains((20, False)), 3)      # the others never ran
    assert [len(r) for r in rows] == [20]
    # none finished (in parallel): every chain cut to the shortest, unless one far behind
    rows, _ = _kept(chains((276, True), (270, True)), 2)
    assert [len(r) for r in rows] == [270, 270] and rows[0][-1] == (269,)
    rows, _ = _kept(chains((300, True), (10, True)), 2)
    assert [len(r) for r in rows] == [300]
    rows, _ = _kept(chains((10, True), (0, True), (20, True)), 3)   # a tie: more chains
    assert [len(r) for r in rows] == [10, 10]
    with pytest.raises(KeyboardInterrupt):
        _kept(chains((0, True), (0, True)), 2)


def _not_in_a_worker():
    raise RuntimeError("this model cannot be rebuilt in a worker process")


class _StaysHome(_Interrupting):
    """A model that pickles but cannot be unpickled: the workers die receiving it."""

    def __reduce__(self):
        return _not_in_a_worker, ()

    def __copy__(self):
        import copy

        return _StaysHome(copy.copy(self._m), self.after)


def test_chains_whose_workers_die_run_here_with_the_same_draws():
    _, obs = _mean_only()
    m = models.build("exponential", profile_mean=False)   # sampled as it is, not copied
    kw = dict(fix=MEAN_FIX, chains=2, draws=10, warmup=10, seed=3, progress=False)
    here = fieldfit.sample(m, obs, cores=1, **kw)
    with pytest.warns(UserWarning, match="could not start"):
        fallback = fieldfit.sample(_StaysHome(m, 10**9), obs, cores=2, **kw)
    np.testing.assert_array_equal(here.draws["mean"], fallback.draws["mean"])
    assert not fallback.interrupted
