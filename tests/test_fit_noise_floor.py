"""Optimiser stages stop at the objective's noise floor (fieldfit.fit.noise).

A likelihood whose last digits vary between calls at the same point (threaded reductions)
must not keep an optimiser asking for one point: the objective answers a point it has seen
from memory, and a stage whose progress is below the noise floor stops, saying so. A fit
that converges normally never asks for one point more than a few times.
"""

import copy
import hashlib
from collections import Counter

import numpy as np
import pytest
import torch

from fieldfit import GaussianField, Observations
from fieldfit.covariance import Exponential
from fieldfit.fit import fit, mle, noise

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRUTH = {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 0.0}


def _observations(n=80, seed=3):
    """An exponential field with a nugget at n uniform points of the unit square."""
    x = np.random.default_rng(seed).uniform(size=(n, 2))
    y = GaussianField(Exponential()).simulate(x, TRUTH, seed=1)[0]
    return Observations(coords=x, values=y)


def _counted(model, value_noise=0.0, gradient_noise=0.0, seed=0, by_point=False,
             interrupt_at=None):
    """A copy of ``model`` whose log-likelihood counts its calls per point and adds fresh
    noise at every call: ``value_noise`` · n · N(0, 1) to ℓ (so about ``value_noise`` to
    f = −ℓ/n) and ``gradient_noise`` · n · N(0, 1) to each derivative of ℓ in log θ (in θ
    where θ ≤ 0), with the same value. The noise comes from one generator seeded by
    ``seed``, or, ``by_point``, from one seeded by the point and how often it was asked for
    before (so a run that skips calls, a resumed one, draws the same noise at the others).
    Ctrl-C at call number ``interrupt_at``. Returns the copy and its Counter {point: calls}."""
    rng = np.random.default_rng(seed)
    inner = model.log_likelihood
    calls = Counter()

    def log_likelihood(obs, theta):
        point = tuple(float(v.detach()) for v in theta.values())
        calls[point] += 1
        if interrupt_at is not None and sum(calls.values()) == interrupt_at:
            raise KeyboardInterrupt
        ll = inner(obs, theta)
        n = int(obs.observed.sum()) * obs.n_replicates
        if by_point:
            digest = hashlib.sha256(np.array(point).tobytes()).digest()
            source = np.random.default_rng([int.from_bytes(digest[:8], "little"),
                                            calls[point], seed])
        else:
            source = rng
        eps = source.standard_normal(len(theta) + 1)
        ll = ll + value_noise * n * float(eps[0])
        for e, v in zip(eps[1:], theta.values(), strict=True):
            if v.requires_grad:   # zero value, gradient e · n · gradient_noise in log θ
                shift = (torch.log(v) - torch.log(v.detach()) if float(v.detach()) > 0
                         else v - v.detach())          # (in θ itself where θ ≤ 0)
                ll = ll + gradient_noise * n * float(e) * shift
        return ll

    noisy = copy.copy(model)
    noisy.log_likelihood = log_likelihood
    return noisy, calls


def _objective(model, obs):
    space = model.param_space(obs)
    return mle._Objective(model, obs, space, None), space


def test_guard_stops_a_point_asked_for_again_and_again():
    """A stage that asks for one point more than REPEAT_LIMIT times ends there, with its best
    point and the reason; the point was evaluated once."""
    evaluations = Counter()

    def f(u):
        evaluations[u.tobytes()] += 1
        return float(u @ u), 2 * u

    guard = noise.NoiseGuard()

    def asked(u):
        value, grad = f(u)
        guard.asked(u.tobytes(), u, value, grad, new=evaluations[u.tobytes()] == 1)
        return value, grad

    def stuck(fun, x0, args=(), **kwargs):   # an optimiser that never leaves its start
        while True:
            fun(x0)

    res = mle._minimise(guard, asked, np.array([0.5, -0.25]), method=stuck)
    assert res.success and "noise floor" in res.message
    assert f"asked for {noise.REPEAT_LIMIT + 1} times" in res.message
    np.testing.assert_array_equal(res.x, [0.5, -0.25])
    assert not guard.active


def test_objective_answers_a_point_from_memory():
    """The same u asked for twice gives the same value, though the likelihood's noise
    differs between calls; the model is called once."""
    obs = _observations()
    model, calls = _counted(GaussianField(Exponential()), value_noise=1e-10)
    obj, space = _objective(model, obs)
    u = space.pack().numpy() + 0.1
    f1, g1 = obj(u)
    f2, g2 = obj(u.copy())
    assert f1 == f2 and np.array_equal(g1, g2)
    assert obj.evaluations == 1 and sum(calls.values()) == 1


def test_noisy_fit_ends_at_the_noise_floor():
    """With noise of 1e-10 in f and 3e-6 in its gradient (above BFGS's gtol of 1e-6), the
    preconditioned BFGS stage ends at the noise floor in a bounded number of evaluations and
    says so; without the guard it runs on to scipy's own failure, about three times longer."""
    obs = _observations()

    def run():
        model, calls = _counted(GaussianField(Exponential()), 1e-10, 3e-6, seed=1)
        obj, space = _objective(model, obs)
        opt = mle.optimise(obj, space, [model.initial_values(obs)], 300,
                           mle._tolerances(True, None, obj.n),
                           h_inv0=np.eye(len(space.free_names)))
        return obj, calls, opt

    obj, calls, opt = run()
    res = opt.runs[0].res
    assert res.success and "stopped: progress below the objective's noise floor" in res.message
    assert obj.evaluations <= 50
    assert max(calls.values()) == 1          # no point evaluated twice
    f_floor = float(res.message.split("(")[1].split(" ")[0])
    assert 1e-11 < f_floor < 1e-8            # the injected noise's size, measured

    with pytest.MonkeyPatch.context() as mp:  # the same run, unguarded
        mp.setattr(noise, "REPEAT_LIMIT", 10**9)
        mp.setattr(noise, "STALL_EVALUATIONS", 10**9)
        unguarded, _, _ = run()
    assert unguarded.evaluations > obj.evaluations + 20


def test_noisy_full_fit_ends_and_says_so():
    """fieldfit.fit on a noisy likelihood ends within a bounded number of evaluations, with
    the noise-floor stop in its message, estimates near the noiseless fit's."""
    obs = _observations()
    model, calls = _counted(GaussianField(Exponential()), 1e-10, 3e-6, seed=2)
    res = fit(model, obs, coarse=False, restarts=0, tol=1e-9, progress=False, maxiter=300)
    assert "noise floor" in res.message and res.converged
    assert res.evaluations <= 60
    # the optimum's value and gradient once; its Hessian and the reported ℓ call ℓ again
    assert max(calls.values()) <= 4
    clean = fit(GaussianField(Exponential()), obs, coarse=False, restarts=0, tol=1e-9,
                progress=False, maxiter=300)
    assert res.loglik == pytest.approx(clean.loglik, abs=1e-3)


def test_normal_fit_asks_for_no_point_more_than_a_few_times():
    """A noiseless fit with restarts converges as L-BFGS-B says (no noise-floor stop) and
    evaluates no point more than a few times."""
    obs = _observations()
    model, calls = _counted(GaussianField(Exponential()))
    res = fit(model, obs, restarts=2, progress=False)
    assert res.converged and "noise floor" not in res.message
    assert max(calls.values()) <= 3


def test_stop_is_deterministic_given_the_values():
    """Two guards fed the same values stop at the same request with the same message."""
    rng = np.random.default_rng(0)
    u = np.zeros(2)
    values = [(u + 1e-6 * rng.standard_normal(2), 1.0 + 1e-10 * rng.standard_normal(),
               1e-6 * rng.standard_normal(2)) for _ in range(40)]

    def stop_of():
        guard = noise.NoiseGuard()
        guard.start()
        for i, (ui, fi, gi) in enumerate(values):
            try:
                guard.asked(ui.tobytes(), ui, fi, gi, new=True)
            except noise.NoiseFloorReached as stop:
                return i, stop.message
        return None

    first = stop_of()
    assert first is not None and first == stop_of()


def test_newton_polish_stops_at_the_noise_floor():
    """From the noiseless optimum, the Newton polish of a noisy likelihood stops at the noise
    floor within a few evaluations (unguarded: about 40, its line searches halving to the
    end), and says so in its note; the floor it reports is the injected noise's size."""
    obs = _observations()
    clean = fit(GaussianField(Exponential()), obs, coarse=False, restarts=0, progress=False)

    def run():
        model, _ = _counted(GaussianField(Exponential()), 1e-10, 3e-6, seed=5)
        obj, space = _objective(model, obs)
        u0 = space.pack({**{p.name: p.value for p in space},
                         **{k: v for k, v in clean.params.items() if k in space}}).numpy()
        u, se, H, note = mle.polish(obj, space, u0, np.zeros(len(u0), dtype=bool), True)
        return obj, se, note

    obj, se, note = run()
    assert note is not None and note.startswith("Newton polish stopped: progress below")
    assert obj.evaluations <= 15 and set(se) == {"variance", "range", "nugget"}
    f_floor = float(note.split("(")[1].split(" ")[0])
    assert 1e-11 < f_floor < 1e-8
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(noise, "STALL_EVALUATIONS", 10**9)
        unguarded, _, unguarded_note = run()
    assert unguarded_note is None and unguarded.evaluations > obj.evaluations + 20


def test_resumed_noisy_fit_replays_to_the_same_answer(tmp_path):
    """A noisy fit interrupted and resumed from its journal stops where the uninterrupted
    one stopped, bit for bit: the stop rule follows from the journaled values alone."""
    obs = _observations()
    kwargs = dict(coarse=False, restarts=0, tol=1e-9, progress=False, maxiter=300)
    noisy = dict(value_noise=1e-10, gradient_noise=3e-6, seed=4, by_point=True)
    full = fit(_counted(GaussianField(Exponential()), **noisy)[0], obs, **kwargs)
    assert "noise floor" in full.message
    ckpt = tmp_path / "fit.checkpoint.jsonl"
    with pytest.warns(UserWarning, match="interrupted"):
        part = fit(_counted(GaussianField(Exponential()), interrupt_at=12, **noisy)[0], obs,
                   checkpoint=ckpt, **kwargs)
    assert part.interrupted and ckpt.exists()
    model, calls = _counted(GaussianField(Exponential()), **noisy)
    res = fit(model, obs, checkpoint=ckpt, resume=True, **kwargs)
    assert "11 evaluations replayed" in res.message
    assert res.params == full.params and res.stderr == full.stderr
    assert res.loglik == full.loglik and res.evaluations == full.evaluations
    assert res.message.startswith(full.message)
