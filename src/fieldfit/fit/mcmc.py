r"""Bayesian inference: NUTS (Pyro) on the unconstrained parameters of any model.

The potential energy on the unconstrained vector u of the free parameters
(θ_i = g_i(u_i), :class:`fieldfit.params.ParamSpace`) is

.. math::

    U(u) = -\Big[\ell(g(u)) + \sum_i \log p_i(g_i(u_i)) + \sum_i \log |g_i'(u_i)|\Big]

with ℓ the model's log-likelihood (any engine: exact, Vecchia, SPDE/GMRF, advection–diffusion),
p_i the priors on the natural scale and the last sum the transforms' log-Jacobians. Its value
and gradient (autograd) come from one evaluation; as in :mod:`fieldfit.fit.mle`, only a
numerical failure (a failed factorisation, a non-finite value, a value outside a domain) makes
a point infeasible: U = +∞ there, which Pyro's NUTS (Hoffman & Gelman 2014) treats as a
divergent, rejected proposal. Every other exception propagates. A parameter with a search box
(``Param.search``: Matérn ν in (0.05, 30)) is sampled inside it, as ``fit`` optimises inside it
(U = +∞ outside: its prior truncated to the box), so that a wild warm-up step never evaluates
the likelihood where it is meaningless or very slow. A parameter with a bounded prior
(:class:`fieldfit.priors.Bound`, uniform or log-uniform on (a, b): the neural estimators'
priors) is sampled on the logit of its unit scale instead (θ = a + (b − a) σ(u), or
a (b / a)^σ(u)), so no proposal leaves the prior's support.

Mean coefficients are sampled, not profiled: a model with ``profile_mean=True`` is copied with
``profile_mean=False`` (the likelihood then takes β from the parameters, as ``fit`` does for a
fixed coefficient), so the draws are of the joint posterior p(θ, β | y). Predictions at a
draw use simple kriging with that draw's β, which makes :meth:`PosteriorSample.predict` the
posterior predictive. See :func:`default_priors` for the priors used when none is given.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import torch

from ..contract import check_model
from ..params import DTYPE, Interval, LogInterval, ParamSpace, Positive
from ..prior_spec import is_range, is_variance
from ..priors import Bound, Distribution, LogNormal, Normal, PCRange, PCVariance, TorchPrior
from ..settings import current, progress_shown
from .chains import Chain, kept_chains, run_chains
from .convergence import (
    ConvergenceWarning,
    check_convergence,
)
from .mle import SearchEdgeWarning, check_identifiable
from .posterior import PosteriorSample
from .potential import TABLE_STEP, Potential, laplace_variances, log_jacobian

#: PC priors' tail probabilities: P(range < ρ₀) = P(σ > σ₀) = 0.05
PC_ALPHA = 0.05
#: ρ₀ = diameter / RANGE_FRACTION (time ranges: the time span / RANGE_FRACTION)
RANGE_FRACTION = 20.0
#: σ₀ = SD_MULTIPLE × the standard deviation of the observed values
SD_MULTIPLE = 3.0
#: the mean coefficients' normal priors have sd = MEAN_SD_MULTIPLE × their GLS standard error
MEAN_SD_MULTIPLE = 100.0
#: the sd of log θ of the log-normal fallback prior on positive parameters
LOG_SD = 2.0
MAX_JITTER_SD = 1.0
#: the default warm-up is the number of draws, at least MIN_WARMUP and at most MAX_WARMUP
#: steps (:func:`default_warmup`). 200 is the shortest warm-up on which Pyro runs Stan's full
#: adaptation schedule with two slow windows (75 steps of step-size adaptation, mass-matrix
#: windows of 25 and 50 steps, 50 final steps): the mass matrix is then estimated from 50
#: warm-up draws; shorter warm-ups shrink every window (Stan's 15/75/10 % fallback)
MIN_WARMUP = 200
MAX_WARMUP = 1000


# --- priors ------------------------------------------------------------------------------------
def _data_sd(obs) -> float:
    y = obs.values_2d[:, obs.observed]
    sd = float(np.nanstd(y))
    return sd if sd > 0 else 1.0


def default_priors(model, obs, space: ParamSpace | None = None) -> dict[str, Distribution]:
    """Proper, weakly informative priors for every free parameter, scaled to the data.

    The priors, by parameter:

    - a range (a name with "range"): PC prior with P(range < ρ₀) = 0.05, ρ₀ = the data's
      diameter / 20 (time ranges: the time span / 20, d = 1), in the dimension of the data;
    - a variance (``variance``, ``nugget``, ``*variance``): PC prior on σ = √variance with
      P(σ > σ₀) = 0.05, σ₀ = 3 × the sd of the observed values;
    - a mean coefficient (``model.mean_names``): N(β̂, (100 se)²) with β̂ and se the GLS
      coefficient and standard error at the data-driven start (``model.initial_values``);
    - any other positive parameter: log-normal with log θ ~ N(log θ₀, 2²) around the
      data-driven start θ₀, or, when it has a search box (lo, hi) (Matérn ν: (0.05, 30)),
      log θ ~ N(log √(lo·hi), (log(hi/lo)/4)²) (the box is the central 95 %), truncated to
      the box (the sampler stays inside it, module docstring);
    - a parameter on an interval (a, b): uniform on (a, b);
    - any other real parameter: N(θ₀, (10 max(abs(θ₀), 1))²).

    Parameters
    ----------
    model : Model
        The model.
    obs : Observations
        The data the priors are scaled to.
    space : ParamSpace, optional
        The parameters. Default: the sampled space of ``model`` (mean coefficients
        included).

    Returns
    -------
    dict of str to Distribution
        ``{name: prior}`` for every free parameter of ``space``.
    """
    if space is None:
        space = _sampled(model).param_space(obs)
    start = {p.name: p.value for p in space}
    start.update(model.initial_values(obs))
    means = set(model.mean_names(obs))
    beta, beta_se = {}, {}
    if means & set(space.free_names):
        covariance = {k: v for k, v in start.items() if k in space and k not in means}
        profiled = copy.copy(model)
        profiled.profile_mean = True
        beta, beta_se = profiled.estimate_mean(obs, covariance)
    sd, dim = _data_sd(obs), obs.dim
    diameter = float(model.diameter(obs))
    span = float(np.ptp(obs.times)) if obs.times is not None else 0.0
    out: dict[str, Distribution] = {}
    for p in space:
        if p.fixed:
            continue
        name, t, v = p.name, p.transform, start.get(p.name)
        if isinstance(t, Positive) and is_range(name):
            timely = name.startswith("time_")
            scale = (span or 1.0) if timely else (diameter or 1.0)
            out[name] = PCRange(scale / RANGE_FRACTION, PC_ALPHA, 1 if timely else dim)
        elif isinstance(t, Positive) and is_variance(name):
            out[name] = PCVariance(SD_MULTIPLE * sd, PC_ALPHA)
        elif name in means:
            b, s = beta.get(name, v or 0.0), beta_se.get(name, float("nan"))
            ok = s is not None and math.isfinite(s) and s > 0
            out[name] = Normal(b, MEAN_SD_MULTIPLE * s if ok else 10 * max(abs(b), sd))
        elif isinstance(t, Positive):
            if p.search is not None:
                lo, hi = p.search
                out[name] = LogNormal(0.5 * math.log(lo * hi), math.log(hi / lo) / 4)
            else:
                out[name] = LogNormal(math.log(v if v else 1.0), LOG_SD)
        elif isinstance(t, Interval):
            out[name] = Bound(t.lower, t.upper, "uniform")
        else:
            v = float(v or 0.0)
            out[name] = Normal(v, 10 * max(abs(v), 1.0))
    return out


def _as_prior(name: str, prior) -> Distribution:
    if isinstance(prior, Distribution):
        return prior
    if isinstance(prior, torch.distributions.Distribution):
        return TorchPrior(prior)
    raise TypeError(f"the prior of {name!r} must be a fieldfit.priors Distribution or a "
                    f"torch.distributions object, got {type(prior).__name__}")


def _sampled(model):
    """``model``, or a copy whose likelihood takes the mean coefficients as parameters."""
    if not model.profile_mean:
        return model
    model = copy.copy(model)
    model.profile_mean = False
    return model


# --- the sampler ---------------------------------------------------------------------------------
def _check_counts(chains, draws, warmup, cores) -> None:
    """ValueError unless the counts are integers of at least their least value (``warmup``
    and ``cores`` may be None: their defaults)."""
    for name, v, least in (("chains", chains, 1), ("draws", draws, 1), ("warmup", warmup, 0),
                           ("cores", cores, 1)):
        if v is None and name in ("warmup", "cores"):
            continue
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer) or int(v) != v \
                or v < least:
            raise ValueError(f"{name} must be an integer ≥ {least}, got {v!r}")


def default_warmup(draws: int) -> int:
    """The warm-up steps per chain when none is given: as many as the draws, at least
    :data:`MIN_WARMUP` (200) and at most :data:`MAX_WARMUP` (1000).

    Parameters
    ----------
    draws : int
        Draws kept per chain.

    Returns
    -------
    int
        ``min(max(draws, MIN_WARMUP), MAX_WARMUP)``.

    Examples
    --------
    >>> from fieldfit.fit.mcmc import default_warmup
    >>> default_warmup(50), default_warmup(500), default_warmup(4000)
    (200, 500, 1000)
    """
    return int(min(max(int(draws), MIN_WARMUP), MAX_WARMUP))


def default_cores(chains: int) -> int:
    """The worker processes when none is given: one per chain, at most one per CPU this
    process may use.

    Parameters
    ----------
    chains : int
        The number of chains.

    Returns
    -------
    int
        ``min(chains, CPUs)``, at least 1.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(int(chains), cpus))


def _space(model, obs, fix, priors) -> tuple[ParamSpace, dict[str, Distribution]]:
    """The sampled parameter space with every free parameter's prior (given, else default);
    ValueError for a prior on an unknown or fixed parameter."""
    space = model.param_space(obs).fix(**fix)
    given = {}
    for name, prior in (priors or {}).items():
        if name not in space:
            space[name]  # KeyError naming the closest parameter and all of them
        if space[name].fixed:
            raise ValueError(f"parameter {name!r} is fixed (at {space[name].value:g}): it "
                             "takes no prior")
        given[name] = _as_prior(name, prior)
    chosen = {**default_priors(model, obs, space), **given}
    return _on_prior_boxes(space.with_priors(**chosen)), chosen


def _on_prior_boxes(space: ParamSpace) -> ParamSpace:
    """``space`` with each parameter of a bounded prior (:class:`Bound`) sampled on the logit
    of its unit scale: θ = a + (b − a) σ(u) (uniform) or a (b / a)^σ(u) (log-uniform), so the
    chains never step outside the prior's support. Inside a search box (Matérn ν) the
    transform spans the intersection (the prior truncated to the box, as elsewhere)."""
    out = []
    for p in space:
        b = p.prior
        if p.fixed or not isinstance(b, Bound):
            out.append(p)
            continue
        lo, hi = b.lower, b.upper
        if p.search is not None:
            lo, hi = max(lo, p.search[0]), min(hi, p.search[1])
            if not lo < hi:
                raise ValueError(f"the prior of {p.name!r} on ({b.lower:g}, {b.upper:g}) lies "
                                 f"outside its search box {p.search}")
        if isinstance(p.transform, Positive) and lo < 0:
            raise ValueError(f"parameter {p.name!r} is positive: its prior's box "
                             f"({b.lower:g}, {b.upper:g}) must not reach below 0")
        t = LogInterval(lo, hi) if b.kind == "loguniform" else Interval(lo, hi)
        value = p.value if p.value is not None and lo < p.value < hi else 0.5 * (lo + hi)
        out.append(replace(p, transform=t, value=value, search=None))
    return ParamSpace(out)


def _inside(space: ParamSpace, values: Mapping[str, float]) -> dict[str, float]:
    """``values`` with each parameter of a bounded transform moved inside its box by at least
    10⁻³ of its width (on the log scale for a log-interval): an MLE may lie on or beyond a
    prior's edge (a nugget at 0)."""
    out = dict(values)
    for p in space:
        t, v = p.transform, out.get(p.name)
        if v is None or not isinstance(t, Interval | LogInterval):
            continue
        log = isinstance(t, LogInterval)
        lo, hi = (math.log(t.lower), math.log(t.upper)) if log else (t.lower, t.upper)
        x = (math.log(v) if v > 0 else lo) if log else v
        x = min(max(x, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
        out[p.name] = math.exp(x) if log else x
    return out


def _prior_search_boxes(model_space: ParamSpace, space: ParamSpace) -> dict:
    """``{name: (lo, hi)}``: the boxes of the parameters that ``space`` samples on a bounded
    transform, where both ends lie in the model's domain (a nugget's box from 0 is left to the
    model's search; a mean coefficient, estimated by GLS, has no box to search)."""
    out = {}
    for p in space:
        t = p.transform
        if p.fixed or not isinstance(t, Interval | LogInterval) or p.name not in model_space:
            continue
        try:
            model_space[p.name].transform.check(t.lower, p.name)
            model_space[p.name].transform.check(t.upper, p.name)
        except ValueError:
            continue
        out[p.name] = (t.lower, t.upper)
    return out


def _start(model, sampled, obs, space, fix, init, progress):
    """û, the standard errors in u ``(k,)`` (at most :data:`MAX_JITTER_SD`; NaN where
    unknown, and everywhere with ``init``), and the MLE (None with ``init``): the maximum
    likelihood estimates (``fieldfit.fit``, the mean coefficients by GLS) and their standard
    errors mapped to u."""
    from .mle import fit

    if init is not None:
        for k in init:
            space[k]   # KeyError naming the closest parameter
        values = {p.name: p.value for p in space}
        values.update(sampled.initial_values(obs))
        values.update({k: float(v) for k, v in init.items()})
        u = space.pack(values).numpy()
        return u, np.full(len(u), np.nan), None
    # the MLE, not the posterior mode: a prior density may be unbounded on the natural scale
    # (the PC variance prior at 0), where the penalised likelihood has no maximum. A parameter
    # sampled on its prior's box is searched inside that box (Matérn ν under U(0.5, 2.5), with
    # the likelihood rising to ν = 30: the others then sit at their optimum given the box's ν),
    # and its estimate on the box's edge is no concern
    boxes = _prior_search_boxes(model.param_space(obs), space)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(model, obs, fix=fix, progress=progress, search=boxes)
    for w in caught:
        if not (isinstance(w.message, SearchEdgeWarning) and set(w.message.names) <= set(boxes)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    u = space.pack(_inside(space, {k: v for k, v in res.params.items() if k in space})).numpy()
    jac = space.jacobian_diag(torch.tensor(u, dtype=DTYPE)).numpy()
    se = np.array([res.stderr.get(n) or math.nan for n in space.free_names]) / np.abs(jac)
    se = np.where(np.isfinite(se) & (se > 0), np.minimum(se, MAX_JITTER_SD), np.nan)
    return u, se, res


def sample(model, obs, *, priors: Mapping | None = None, fix: Mapping | None = None,
           chains: int = 4, draws: int = 1000, warmup: int | None = None,
           cores: int | None = None, seed: int = 0, init: Mapping | None = None,
           progress: bool | None = None, target_accept: float = 0.8,
           max_tree_depth: int = 10, full_mass: bool = False,
           table_step: float | None = TABLE_STEP) -> PosteriorSample:
    """Posterior draws of a model's parameters by NUTS (Pyro), chains in parallel processes.

    The sampler runs on the potential U(u) of the unconstrained free parameters (module
    docstring: the log-likelihood of any engine, the priors and the transforms' Jacobians).
    The chains start from the maximum likelihood estimates of :func:`fieldfit.fit`, jittered,
    with the warm-up's mass matrix started from the Laplace approximation's variances.

    Parameters
    ----------
    model : Model
        Any fieldfit model (:func:`fieldfit.models.build`); a model that profiles its mean
        coefficients has them sampled instead.
    obs : Observations
        The data.
    priors : mapping of str to prior, optional
        ``{name: prior}``: a :class:`fieldfit.priors.Distribution` or any
        ``torch.distributions`` object on the natural scale. Parameters without one get
        :func:`default_priors` (proper, weakly informative, scaled to the data).
    fix : mapping of str to float, optional
        Natural values of parameters held fixed (a mean coefficient too).
    chains : int, default 4
        Independent chains.
    draws : int, default 1000
        Draws kept per chain, after the warm-up.
    warmup : int, optional
        Warm-up steps per chain: step-size and (diagonal, or dense with ``full_mass``)
        mass-matrix adaptation on Pyro's windowed schedule. Default (None): as many as the
        draws, at least :data:`MIN_WARMUP` (200) and at most :data:`MAX_WARMUP` (1000)
        (:func:`default_warmup`).
    cores : int, optional
        Worker processes running the chains at once. Default (None): one per chain, at most
        one per CPU (:func:`default_cores`). With 1 the chains run one after another in this
        process. The draws do not depend on it.
    seed : int, default 0
        Chain c is seeded from (``seed``, c) alone, whichever process runs it: the same seed
        gives the same draws; the global random state is left as it was.
    init : mapping of str to float, optional
        Natural starting values (the others: the data-driven start). Without it the chains
        start at the maximum likelihood estimates (the mean coefficients by GLS; a parameter
        with a bounded prior searched inside its box), each jittered in u by 0.5 × its
        standard error in u (at most 1; 0.1 in u with ``init``).
    progress : bool, optional
        Progress bars (the preliminary fit's and one per chain). Default (None): only when
        standard error is a terminal, or as ``fieldfit.settings(progress=...)`` says.
    target_accept : float, default 0.8
        The mean acceptance probability the step size is adapted to; raise it (0.9, 0.95)
        when there are divergences.
    max_tree_depth : int, default 10
        The most doublings of a NUTS trajectory (at most 2^10 − 1 leapfrog steps).
    full_mass : bool, default False
        Adapt a dense mass matrix instead of a diagonal one.
    table_step : float or None, default TABLE_STEP
        The Matérn table's step while sampling (:data:`TABLE_STEP`); None: the numerical
        settings in force (``fieldfit.settings``).

    Returns
    -------
    PosteriorSample
        The draws ``(chains, draws)`` per parameter, the sampler's statistics, the priors
        and the convergence warnings (:attr:`PosteriorSample.warnings`).

    Raises
    ------
    ValueError
        A count below its least value, a prior on a fixed parameter, every parameter fixed,
        or a starting point where the posterior density cannot be evaluated.
    KeyError
        A prior, a fixed value or a starting value of an unknown parameter.
    TypeError
        A prior that is not a distribution.
    KeyboardInterrupt
        Ctrl-C before any draw was kept.

    Warns
    -----
    ConvergenceWarning
        Once, listing every failed convergence check (:func:`check_convergence`: R-hat above
        1.01, bulk or tail ESS below 100 per chain, divergent transitions, transitions at
        the maximum tree depth).
    UserWarning
        Sampling interrupted by Ctrl-C.

    See Also
    --------
    fieldfit.fit : maximum likelihood estimates.
    check_convergence : the convergence checks.

    Notes
    -----
    Each chain runs on one torch thread, in a worker process started by ``spawn`` (which
    imports the main module: in a script, call ``sample`` under
    ``if __name__ == "__main__":``) or, with ``cores=1``, in this process. The model and the
    data are pickled to the workers; a model that cannot be pickled, or workers that cannot
    start, have the chains run here, one after another, with a warning.

    Ctrl-C keeps the draws made so far (``interrupted`` is then True): the chains that
    finished; when none did (they ran in parallel), the interrupted chains that keep the
    most draws in all when cut to a common length. A KeyboardInterrupt before any draw
    propagates.

    Examples
    --------
    Thirty draws of one chain on 30 points: enough to show the result's layout, far too
    few for inference (a :class:`ConvergenceWarning` says so).

    >>> import numpy as np
    >>> import fieldfit
    >>> from fieldfit import Observations, models
    >>> x = np.random.default_rng(0).uniform(size=(30, 2))
    >>> model = models.build("exponential")
    >>> truth = {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 0.0}
    >>> obs = Observations(coords=x, values=model.simulate(x, truth, seed=1)[0])
    >>> post = fieldfit.sample(model, obs, chains=1, warmup=30, draws=30, seed=0,
    ...                        progress=False)
    >>> post.names, post.shape
    (['variance', 'range', 'nugget', 'mean'], (1, 30))
    """
    t0 = time.perf_counter()
    _check_counts(chains, draws, warmup, cores)
    chains, draws = int(chains), int(draws)
    warmup = default_warmup(draws) if warmup is None else int(warmup)
    cores = default_cores(chains) if cores is None else min(int(cores), chains)
    check_model(model)
    model.check_data(obs)
    fix = {k: float(v) for k, v in (fix or {}).items()}
    sampled = _sampled(model)
    space, chosen = _space(sampled, obs, fix, priors)
    check_identifiable(sampled, obs, space)
    if not space.free_names:
        raise ValueError("every parameter is fixed: there is nothing to sample")
    u_hat, se_u, mle = _start(model, sampled, obs, space, fix, init, progress)
    potential = Potential(sampled, obs, space, table_step)
    if not math.isfinite(potential.evaluate(u_hat)[0]):
        raise ValueError("the posterior density cannot be evaluated at the starting point "
                         "(a failed factorisation or a non-finite value): give init")
    inverse_mass = None if mle is None else laplace_variances(space, u_hat, se_u)
    show = progress_shown(progress)
    options = {"target_accept_prob": target_accept, "max_tree_depth": max_tree_depth,
               "full_mass": full_mass}
    jobs = [Chain(sampled, obs, space, u_hat, se_u, inverse_mass, c, int(seed), draws,
                   warmup, options, table_step, dataclasses.asdict(current()))
            for c in range(chains)]
    results = run_chains(jobs, cores, show)
    rows, interrupted = kept_chains(results, chains)
    length = len(rows[0])
    u = np.array([[r[0] for r in ch] for ch in rows])          # (chains, draws, k)
    natural = {}
    for j, name in enumerate(space.free_names):
        natural[name] = space[name].transform.forward(torch.from_numpy(u[..., j])).numpy()
    lp_u = np.array([[r[2] + r[3] for r in ch] for ch in rows])
    stats = {"diverging": np.array([[r[1] for r in ch] for ch in rows]),
             "lp": lp_u + log_jacobian(space, torch.from_numpy(u)).numpy(),
             "loglik": np.array([[r[2] for r in ch] for ch in rows]),
             "step_size": np.array([[r[4] for r in ch] for ch in rows]),
             "tree_depth": np.array([[r[5] for r in ch] for ch in rows], dtype=np.int64)}
    if interrupted:
        warnings.warn(f"sampling interrupted: keeping {len(rows)} chain(s) × {length} draws",
                      stacklevel=2)
    evaluations = potential.evaluations + sum(r.evaluations for r in results)
    post = PosteriorSample(model=sampled, obs=obs, draws=natural, stats=stats,
                           fixed={**space.fixed_values}, priors=chosen,
                           seconds=time.perf_counter() - t0, interrupted=interrupted,
                           warmup=warmup, seed=int(seed), mle=mle,
                           message=f"{evaluations} evaluations", evaluations=evaluations,
                           max_tree_depth=int(max_tree_depth))
    post.diagnostics = check_convergence(post.to_inference_data())
    if post.diagnostics:
        warnings.warn(ConvergenceWarning(
            f"{len(post.diagnostics)} convergence check(s) failed (PosteriorSample.warnings): "
            + "; ".join(d["message"] for d in post.diagnostics)), stacklevel=2)
    post.seconds = time.perf_counter() - t0
    return post


__all__ = ["ConvergenceWarning", "PosteriorSample", "check_convergence", "default_cores",
           "default_priors", "default_warmup", "sample"]
