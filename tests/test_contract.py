"""The model contract: every registered model goes through the same suite.

Parametrised over ``fieldfit.models.available()``, so a model added to the registry is covered
without touching this file. For each model: it offers the contract's members; it simulates with
an explicit seed (the same seed gives the same draws, another seed others); it is rebuilt from
its spec (same log-likelihood); maximum likelihood on a small simulated dataset reaches at
least the log-likelihood of the parameters that generated it; kriging at the data beats the
constant mean; and bad input gets a ValueError before any work. Every registered model that
declares the mesh contract (``mesh_model``) also goes through the members of
:class:`fieldfit.contract.MeshModel`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import fieldfit as ff
from fieldfit.contract import MeshModel, Model, Simulator, check_model, require_mesh_model
from fieldfit.models import available, build, from_spec
from fieldfit.models.registry import is_space_time

#: options that keep each model's problem small (a coarse automatic mesh for the SPDE models)
SMALL = {"matern-spde": {"mesh_max_edge": [0.15, 0.4]},
         "advection-diffusion": {"mesh_max_edge": [0.3, 0.6]}}


def _design(space_time: bool, seed: int = 0):
    """Points ``(n, D)``: 60 uniform locations, or 12 stations at 5 times."""
    rng = np.random.default_rng(seed)
    if not space_time:
        return rng.uniform(size=(60, 2))
    stations = rng.uniform(size=(12, 2))
    times = np.arange(5, dtype=float)
    return np.column_stack([np.tile(stations, (len(times), 1)),
                            np.repeat(times, len(stations))])


def _obs(points, values, space_time: bool):
    if space_time:
        return ff.Observations(coords=points[:, :2], times=points[:, 2], values=values)
    return ff.Observations(coords=points, values=values)


def _truth(model, points, space_time: bool) -> dict[str, float]:
    """Parameters to simulate from: the model's own data-driven start on unit-variance data
    (so no per-model table is needed), mean coefficients 0."""
    probe = _obs(points, np.random.default_rng(1).standard_normal(len(points)), space_time)
    space = model.param_space(probe)
    truth = {p.name: float(p.value) for p in space}  # defaults, then the start over them
    truth.update(model.initial_values(probe))
    if "nugget" in truth:
        truth["nugget"] = 0.05 * truth.get("variance", 1.0) if "variance" in truth else 0.05
    truth.update({k: 0.0 for k in model.mean_names(probe)})
    return truth


@pytest.fixture(scope="module", params=available())
def case(request):
    name = request.param
    st = is_space_time(name)
    model = build(name, **SMALL.get(name, {}))
    points = _design(st)
    truth = _truth(model, points, st)
    y = model.simulate(points, truth, seed=3)[0]
    return name, st, model, points, truth, _obs(points, y, st)


def test_model_offers_the_contract(case):
    name, _, model, *_ = case
    check_model(model)
    assert isinstance(model, Model) and isinstance(model, Simulator)
    assert model.hessian in ("autograd", "differences")
    assert model.space_time == is_space_time(name)
    assert model.engine_name in ff.likelihood.ENGINES


def test_simulation_is_reproducible_by_seed(case):
    _, _, model, points, truth, _ = case
    a = model.simulate(points, truth, n_replicates=2, seed=11)
    b = model.simulate(points, truth, n_replicates=2, seed=11)
    c = model.simulate(points, truth, n_replicates=2, seed=12)
    assert a.shape == (2, len(points))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    assert np.abs(a[0] - a[1]).max() > 1e-3  # the replicates are independent draws


def test_rebuilt_from_its_spec(case):
    _, _, model, _, truth, obs = case
    spec = model.to_spec()
    again = from_spec(json.loads(json.dumps(spec)))  # plain data: survives JSON
    assert again.to_spec() == spec
    ll = float(model.log_likelihood(obs, truth))
    assert np.isfinite(ll)
    assert float(again.log_likelihood(obs, truth)) == pytest.approx(ll, rel=1e-10, abs=1e-10)


def test_fit_and_predict(case):
    _, st, model, points, truth, obs = case
    res = ff.fit(model, obs, restarts=0, stderr=False, progress=False)
    ll_truth = float(model.log_likelihood(obs, truth))
    assert res.loglik >= ll_truth - 1e-6
    assert res.engine == model.engine_name and res.n == obs.n
    table = ff.krige(model, obs, obs, res)
    assert list(table.columns[:1]) == ["id"] and list(table.columns[-2:]) == ["mean", "sd"]
    assert table.shape[0] == obs.n and np.all(np.isfinite(table[["mean", "sd"]]))
    assert np.all(table["sd"] > 0)
    np.testing.assert_allclose(table.iloc[:, 1:-2].to_numpy(), model.points(obs))
    y = obs.values
    rmse_krige = np.sqrt(np.mean((table["mean"] - y) ** 2))
    assert rmse_krige < np.std(y)   # kriging at the data beats the constant mean


def test_bad_input_is_refused(case):
    _, st, model, points, truth, obs = case
    with pytest.raises(ValueError):          # a parameter outside its domain
        model.log_likelihood(obs, {**truth, "nugget": -1.0})
    some = next(p.name for p in model.param_space(obs) if not p.fixed)
    with pytest.raises(ValueError):          # a missing parameter
        model.log_likelihood(obs, {k: v for k, v in truth.items() if k != some})
    wrong = (ff.Observations(coords=points[:, :2], values=obs.values) if st
             else ff.Observations(coords=points, times=np.arange(len(points), dtype=float),
                                  values=obs.values))
    with pytest.raises(ValueError):          # data of the other kind (times / no times)
        ff.fit(model, wrong, restarts=0, stderr=False, progress=False)
    with pytest.raises(ValueError, match="unknown model"):
        build("no-such-model")
    with pytest.raises(ValueError, match="options"):
        build(case[0], no_such_option=1)


# --- the mesh contract ---------------------------------------------------------------------
#: the registered models that declare the mesh contract
MESH_MODELS = [n for n in available() if build(n, **SMALL.get(n, {})).mesh_model]


def test_the_mesh_contract_is_declared_by_some_models_only():
    assert MESH_MODELS  # the advection-diffusion field at least
    for name in available():
        model = build(name, **SMALL.get(name, {}))
        assert isinstance(model.mesh_model, bool)
        if model.mesh_model:
            assert isinstance(model, MeshModel)
            assert require_mesh_model(model, "this test") is model
        else:
            with pytest.raises(ValueError, match="this test needs a time-stepped model"):
                require_mesh_model(model, "this test")


@pytest.fixture(scope="module", params=MESH_MODELS)
def mesh_case(request):
    name = request.param
    model = build(name, **SMALL.get(name, {}))
    points = _design(True)
    truth = _truth(model, points, True)
    y = model.simulate(points, truth, seed=3)[0]
    return model, truth, _obs(points, y, True)


def test_mesh_for_and_time_grid(mesh_case):
    model, _, obs = mesh_case
    check_model(model)
    mesh = model.mesh_for(obs)
    assert mesh.nodes.ndim == 2 and mesh.nodes.shape[1] == 2 and mesh.n_nodes > 0
    lo, hi = mesh.nodes.min(0), mesh.nodes.max(0)
    assert np.all(lo <= obs.coords.min(0)) and np.all(hi >= obs.coords.max(0))
    assert model.mesh_for(obs) is mesh           # built once per data set
    t0, dt, n_t = model.time_grid(obs)
    assert t0 == obs.times.min() and dt == pytest.approx(1.0 / model.substeps)
    assert n_t == 4 * model.substeps + 1         # 5 observation times
    assert model.mesh is None and "max_edge" in model.mesh_options


def test_with_discretisation_is_a_copy_with_empty_caches(mesh_case):
    model, _, obs = mesh_case
    nodes = model.mesh_for(obs).n_nodes
    edges = np.asarray(model.mesh_options["max_edge"]) / 2
    finer = model.with_discretisation(mesh_options={"max_edge": tuple(edges)})
    assert finer is not model and type(finer) is type(model)
    assert finer.mesh_for(obs).n_nodes > nodes    # its own mesh, not the cached one
    assert model.mesh_for(obs).n_nodes == nodes   # the original is untouched
    more = model.with_discretisation(substeps=2 * model.substeps)
    assert more.substeps == 2 * model.substeps and model.substeps == 1
    assert more.time_grid(obs)[2] == 2 * (model.time_grid(obs)[2] - 1) + 1
    assert more.param_space(obs).names == model.param_space(obs).names
    with pytest.raises(AttributeError, match="no discretisation attribute"):
        model.with_discretisation(no_such_attribute=1)


def test_refined_models_are_finer(mesh_case):
    model, truth, obs = mesh_case
    in_time, settings = model.refined(obs, "time")
    assert in_time.substeps == 2 * model.substeps
    assert settings["dt"] == pytest.approx(model.time_grid(obs)[1] / 2)
    assert in_time.mesh_for(obs).n_nodes == model.mesh_for(obs).n_nodes
    in_space, settings = model.refined(obs, "mesh")
    assert settings["mesh_nodes"] == in_space.mesh_for(obs).n_nodes > model.mesh_for(obs).n_nodes
    given = model.with_discretisation(mesh=model.mesh_for(obs))
    assert given.refined(obs, "mesh") is None    # nothing to refine a given mesh with
    with pytest.raises(ValueError, match="unknown refinement"):
        model.refined(obs, "space")
    # both refinements are models of the same parameters with finite likelihoods
    for other in (in_time, in_space):
        assert np.isfinite(float(other.log_likelihood(obs, truth)))


def test_discretisation_check_reports_shifts(mesh_case):
    model, truth, obs = mesh_case
    check = model.discretisation_check(obs, truth, refine=("time",))
    free = model.param_space(obs).free_names
    assert set(check["refined"]) == {"time"}
    assert set(check["refined"]["time"]["shift"]) == set(free)
    refined = check["refined"]["time"]["estimates"]
    assert set(refined) == set(free) and all(np.isfinite(v) for v in refined.values())
    assert any(refined[n] != truth[n] for n in free)   # the refined likelihood moves them
    assert check["mesh_nodes"] == model.mesh_for(obs).n_nodes
    assert check["substeps"] == model.substeps
