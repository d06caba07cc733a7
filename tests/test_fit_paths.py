"""Paths through fieldfit.fit other than "one start, converged": restarts that join the basin
of an optimum already found are stopped there, a restart that finds a better basin is kept
and runs to full tolerance, and Ctrl-C returns the best point evaluated so far.

The models are GaussianFields with an instrumented or replaced log-likelihood (the public
model contract: ``initial_values``, ``restart_values``, ``log_likelihood``), so only
``fit``'s public behaviour and the FitResult fields are relied on.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from fieldfit import GaussianField, Observations
from fieldfit.covariance import Exponential
from fieldfit.fit import fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# two wells in a = log range: a worse one at log 0.05 (depth 1), a better one at log 0.5
# (depth 1.5), 5.8 well widths apart; (log variance)² makes the variance direction a bowl
A, B, WIDTH = math.log(0.05), math.log(0.5), 0.4
DEPTH_A, DEPTH_B = 1.0, 1.5


def _obs(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return Observations(coords=rng.uniform(size=(n, 2)), values=rng.normal(size=n))


class TwoBasins(GaussianField):
    """ℓ(θ)/n = −[(log σ²)² − D_A exp(−(a − A)²/2w²) − D_B exp(−(a − B)²/2w²) + 0.01 (a − c)²]
    with a = log ℓ and c the midpoint of the wells; starts given by the test. Records every
    range the likelihood is evaluated at."""

    def __init__(self, starts):
        super().__init__(Exponential(), mean="zero", nugget=False)
        self.starts = [dict(s) for s in starts]
        self.ranges = []

    def initial_values(self, obs):
        return dict(self.starts[0])

    def restart_values(self, obs, k):
        return [dict(s) for s in self.starts[1:1 + k]]

    def log_likelihood(self, obs, params):
        v, a = torch.log(params["variance"]), torch.log(params["range"])
        self.ranges.append(float(params["range"].detach()))
        wells = (DEPTH_A * torch.exp(-((a - A) ** 2) / (2 * WIDTH**2))
                 + DEPTH_B * torch.exp(-((a - B) ** 2) / (2 * WIDTH**2)))
        f = v**2 - wells + 0.01 * (a - 0.5 * (A + B)) ** 2
        return -int(obs.observed.sum()) * f

    def run_lengths(self, starts):
        """Evaluations of each run: runs begin with an evaluation at their start's range."""
        r = np.asarray(self.ranges)
        first = [int(np.flatnonzero(np.isclose(r, s["range"], rtol=1e-12))[0]) for s in starts]
        return np.diff([*first, len(r)]).tolist()


def _start(a):
    return {"variance": 1.5, "range": math.exp(a)}


def _fit(starts, restarts, obs, **kw):
    model = TwoBasins(starts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit(model, obs, restarts=restarts, progress=False, stderr=False, **kw)
    return model, res


def _alone(start, obs):
    """The fit from one start with no restarts."""
    return _fit([start], 0, obs)[1]


def test_a_restart_joining_a_found_basin_is_stopped():
    obs = _obs()
    s0, s1 = _start(A + 0.5), _start(A - 0.6)          # both in the worse well, 1.1 apart
    model, res = _fit([s0, s1], 1, obs)
    first, second = res.restarts
    assert len(res.restarts) == 2
    # both runs end in well A; the second stops once within 0.1 of the first's optimum in
    # u = log θ without beating it
    np.testing.assert_allclose(math.log(res.params["range"]), A, atol=0.05)
    assert second <= first
    full_second = _alone(s1, obs)
    lengths = model.run_lengths([s0, s1])
    second_run = np.log(model.ranges[lengths[0]:])
    assert np.abs(second_run - math.log(full_second.params["range"])).min() < 0.1
    # the stopped run took fewer evaluations than the same run on its own to full tolerance
    # (its count includes the result's final likelihood, hence the − 1)
    assert lengths[1] - 1 < full_second.evaluations, (lengths, full_second.evaluations)
    assert res.evaluations < _alone(s0, obs).evaluations + full_second.evaluations
    # the result is the first run's optimum, reached to full tolerance
    np.testing.assert_allclose(res.loglik, first, rtol=1e-12)
    np.testing.assert_allclose(res.loglik, _alone(s0, obs).loglik, rtol=1e-12)


def test_a_restart_in_a_better_basin_is_kept_and_runs_to_full_tolerance():
    obs = _obs()
    s0, s1 = _start(A + 0.5), _start(B - 0.5)          # the data-driven start in the worse well
    model, res = _fit([s0, s1], 1, obs)
    n = obs.n
    # the second run found the better well (depth difference 0.5 per observation) and is kept
    assert res.restarts[1] > res.restarts[0] + 0.4 * n
    np.testing.assert_allclose(math.log(res.params["range"]), B, atol=0.05)
    np.testing.assert_allclose(res.params["variance"], 1.0, rtol=1e-4)
    np.testing.assert_allclose(res.loglik, max(res.restarts), rtol=1e-12)
    # nothing was stopped: each run is the one-start fit from its start, evaluation for
    # evaluation
    a0, a1 = _alone(s0, obs), _alone(s1, obs)
    assert res.evaluations == a0.evaluations + a1.evaluations
    np.testing.assert_allclose(res.restarts, [a0.loglik, a1.loglik], rtol=1e-12)
    assert res.params == a1.params
    assert res.converged


def test_only_restarts_near_a_better_optimum_are_stopped():
    """Found: the better well B. A restart in the worse well A never beats B but is far from
    it, so it runs on to A's optimum; a later restart in B is stopped on joining it."""
    obs = _obs()
    s0, s1, s2 = _start(B - 0.5), _start(A + 0.5), _start(B + 0.6)
    model, res = _fit([s0, s1, s2], 2, obs)
    l0, l1, l2 = res.restarts
    a1 = _alone(s1, obs)
    np.testing.assert_allclose(l1, a1.loglik, rtol=1e-12)    # A's optimum, to full tolerance
    assert l1 < l0 - 0.4 * obs.n
    lengths = model.run_lengths([s0, s1, s2])
    assert lengths[1] == a1.evaluations
    a2 = _alone(s2, obs)
    assert lengths[2] - 1 < a2.evaluations and l2 <= l0           # stopped, no better
    np.testing.assert_allclose(math.log(res.params["range"]), B, atol=0.05)
    np.testing.assert_allclose(res.loglik, l0, rtol=1e-12)


# --- Ctrl-C ---------------------------------------------------------------------------------
class Interrupted(GaussianField):
    """A real Gaussian likelihood that raises KeyboardInterrupt at its ``at``-th evaluation
    (once) and records the log-likelihood and parameters of every other one."""

    def __init__(self, at):
        super().__init__(Exponential(), mean="constant")
        self.at, self.calls, self.seen = at, 0, []

    def log_likelihood(self, obs, params):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        ll = super().log_likelihood(obs, params)
        self.seen.append((float(ll.detach()),
                          {k: float(v.detach()) for k, v in params.items()}))
        return ll


def test_ctrl_c_returns_the_best_point_so_far(field_obs):
    # the path of an uninterrupted fit; Ctrl-C just after a rejected trial point (worse than
    # an earlier one), so that the best point so far is not the last one evaluated
    probe = Interrupted(at=-1)
    full = fit(probe, field_obs, restarts=0, progress=False, stderr=False)
    lls = [ll for ll, _ in probe.seen]
    worse = [i for i in range(1, len(lls) - 1) if lls[i] < max(lls[:i])]
    assert worse, "the fit never evaluated a point worse than an earlier one"
    k = worse[0] + 1                          # evaluations before the interrupt
    model = Interrupted(at=k + 1)
    with pytest.warns(UserWarning, match="interrupted"):
        res = fit(model, field_obs, restarts=0, progress=False, stderr=False)
    assert not res.converged and "interrupted" in res.message
    before = model.seen[:k]
    assert [ll for ll, _ in before] == lls[:k]    # the same path up to Ctrl-C
    best_ll, best_params = max(before, key=lambda t: t[0])
    assert best_ll > before[-1][0]
    for name in ("variance", "range", "nugget"):
        assert res.params[name] == pytest.approx(best_params[name], rel=1e-12), name
    assert res.loglik == pytest.approx(best_ll, rel=1e-12)
    # the GLS mean at that point comes with it
    beta, _ = GaussianField(Exponential(), mean="constant").estimate_mean(
        field_obs, {n: best_params[n] for n in ("variance", "range", "nugget")})
    assert res.params["mean"] == pytest.approx(beta["mean"], rel=1e-10)
    # and it is short of the optimum the uninterrupted fit reaches
    assert res.loglik < full.loglik - 1e-6


def test_ctrl_c_during_a_restart_keeps_the_first_optimum(field_obs):
    full = fit(GaussianField(Exponential(), mean="constant"), field_obs, restarts=0,
               progress=False, stderr=False)
    model = Interrupted(at=full.evaluations + 4)  # the 4th evaluation of the 1st restart
    with pytest.warns(UserWarning, match="interrupted"):
        res = fit(model, field_obs, restarts=2, progress=False, stderr=False)
    assert not res.converged
    assert res.loglik == pytest.approx(full.loglik, rel=1e-12)
    for k in ("variance", "range", "nugget", "mean"):
        assert res.params[k] == pytest.approx(full.params[k], rel=1e-10), k


def test_ctrl_c_before_any_evaluation_propagates(field_obs):
    with pytest.raises(KeyboardInterrupt):
        fit(Interrupted(at=1), field_obs, restarts=0, progress=False)
