"""``--substeps auto``: the substeps doubled while the discretisation check's time shift
exceeds the tolerance; each step's shift is the check's at that step's estimates, the fit at
the chosen substeps equals a direct fit there, and a killed search resumes to the same answer."""

import json
import math

import numpy as np
import pytest

from cli_helpers import fails, invoke, ok
from fieldfit import Observations, fit
from fieldfit.fit.substeps import fit_auto_substeps, with_substeps
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField
from fieldfit.spde import Mesh

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n_st=25, n_t=6, seed=0):
    """Data from the model on a fine grid mesh (implicit Euler, one step per observation)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-0.3, 1.3, 21)
    sim = AdvectionDiffusionField(mesh=Mesh.grid(x, x))
    st = rng.random((n_st, 2))
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(np.arange(n_t) * 0.2, n_st)])
    truth = dict(kappa=6.0, c=20.0, tau=np.sqrt(8 * np.pi) * 6.0, gamma_x=4.0, gamma_y=0.0,
                 nugget=0.02, mean=0.0)
    y = sim.simulate(pts, truth, seed=seed + 1)[0]
    return Observations(coords=pts[:, :2], times=pts[:, 2], values=y)


MESH = Mesh.grid(np.linspace(-0.3, 1.3, 9), np.linspace(-0.3, 1.3, 9))


@pytest.fixture(scope="module")
def data():
    return _data()


def test_the_search_doubles_until_the_shift_is_small_and_matches_direct_fits(data):
    # implicit Euler: first order, the time shift is large at one substep
    model = AdvectionDiffusionField(mesh=MESH, theta=1.0)
    chosen, res, search = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=4,
                                            restarts=0)
    assert [s["substeps"] for s in search["steps"]] == [1, 2, 4]
    assert chosen.substeps == 4 == search["chosen"] and model.substeps == 1
    # each step's shift is the discretisation check's at that step's estimates
    for step in search["steps"]:
        m = with_substeps(model, step["substeps"])
        check = m.discretisation_check(data, step["estimates"], refine=("time",))
        shifts = {k: abs(v) for k, v in check["refined"]["time"]["shift_se"].items()}
        assert step["worst"] == max(shifts, key=shifts.get)
        assert step["max_shift_se"] == pytest.approx(max(shifts.values()), rel=0.05)
    # a first-order scheme: each doubling about halves the shift
    shifts = [s["max_shift_se"] for s in search["steps"]]
    assert shifts[0] > 1.5 * shifts[1] > 0 and shifts[1] > 1.3 * shifts[2]
    # the warm-started fit at 4 substeps reaches the direct fit's optimum
    direct = fit(with_substeps(model, 4), data, restarts=0)
    assert res.loglik == pytest.approx(direct.loglik, abs=1e-3)
    for k in ("kappa", "c", "gamma_x"):
        assert res.params[k] == pytest.approx(direct.params[k], rel=2e-3)


def test_the_search_stops_at_the_first_step_within_the_tolerance(data):
    model = AdvectionDiffusionField(mesh=MESH, theta=1.0)
    first = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=2,
                              restarts=0)[2]["steps"]
    tol = 0.5 * (first[0]["max_shift_se"] + first[1]["max_shift_se"])  # between the two
    chosen, res, search = fit_auto_substeps(model, data, tolerance_se=tol, max_substeps=8,
                                            restarts=0)
    assert chosen.substeps == 2 and len(search["steps"]) == 2
    assert search["steps"][-1]["max_shift_se"] <= tol < search["steps"][0]["max_shift_se"]
    # stopped by the cap: one fit, its shift reported
    chosen, _, search = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=1,
                                          restarts=0)
    assert chosen.substeps == 1 and len(search["steps"]) == 1
    assert search["steps"][0]["max_shift_se"] == pytest.approx(first[0]["max_shift_se"])


def test_a_killed_search_resumes_from_its_checkpoint_to_the_same_answer(data, tmp_path):
    model = AdvectionDiffusionField(mesh=MESH, theta=1.0)
    ck = tmp_path / "fit.checkpoint.jsonl"
    ref = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=2, restarts=0)

    class Killed(Exception):
        pass

    def kill(step):
        raise Killed

    with pytest.raises(Killed):  # killed after the first fit's check
        fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=2, restarts=0,
                          checkpoint=ck, on_step=kill)
    assert ck.exists()
    lines = len(ck.read_text().splitlines())
    chosen, res, search = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=2,
                                            restarts=0, checkpoint=ck, resume=True)
    assert not ck.exists()  # finished: the result is the record
    assert lines > 10
    assert chosen.substeps == ref[0].substeps == 2
    assert res.loglik == ref[1].loglik
    assert res.params == ref[1].params
    with pytest.raises(ValueError, match="needs a checkpoint"):
        fit_auto_substeps(model, data, resume=True)


def test_a_substepped_copy_shares_no_cache_and_leaves_the_model_as_it_was(data):
    model = AdvectionDiffusionField(mesh=MESH)
    model.mesh_for(data)
    model._cache["marker"] = 1
    other = with_substeps(model, 4)
    assert (model.substeps, other.substeps) == (1, 4)
    assert other._cache == {} and model._cache["marker"] == 1
    assert other.mesh is model.mesh and other.to_spec()["substeps"] == 4
    with pytest.raises(AttributeError, match="no discretisation attribute"):
        model.with_discretisation(substep=2)


def test_bad_settings_are_refused_before_any_fit(data):
    from fieldfit import GaussianField, Matern

    with pytest.raises(ValueError, match="time-stepped model"):
        fit_auto_substeps(GaussianField(Matern()), data)
    model = AdvectionDiffusionField(mesh=MESH)
    with pytest.raises(ValueError, match="tolerance"):
        fit_auto_substeps(model, data, tolerance_se=0.0)
    with pytest.raises(ValueError, match="max_substeps"):
        fit_auto_substeps(with_substeps(model, 2), data, max_substeps=1)
    with pytest.raises(ValueError, match="standard errors"):
        fit_auto_substeps(model, data, stderr=False)


def test_cli_substeps_auto_writes_the_search_and_refuses_where_it_does_not_apply(data,
                                                                               tmp_path):
    import pandas as pd

    path = tmp_path / "ad.csv"
    pd.DataFrame({"x": data.coords[:, 0], "y": data.coords[:, 1], "t": data.times,
                  "z": data.values}).to_csv(path, index=False)
    out = tmp_path / "fit.json"
    base = ("fit", str(path), "--coords", "x,y", "--time", "t", "--value", "z",
            "--model", "advection-diffusion", "--theta", "1", "--restarts", "0",
            "--mesh-max-edge", "0.2")
    res = invoke(*base, "--substeps", "auto", "--out", str(out))
    ok(res)
    # strict JSON (no NaN or Infinity), with the Richardson limit of the check's two shifts
    d = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    d = d["discretisation"]
    assert d["extrapolated"]["weights"] == {"time": 2.0, "mesh": 2.0}    # θ = 1: first order
    assert set(d["extrapolated"]["interval95"]) == set(d["extrapolated"]["estimates"]) \
        == set(d["shift"])
    search = d["substeps_search"]
    assert search["chosen"] == search["steps"][-1]["substeps"] == d["substeps"]
    assert search["tolerance_se"] == 0.5 and search["max_substeps"] == 8
    last = search["steps"][-1]
    assert last["max_shift_se"] <= 0.5 or last["substeps"] == 8
    assert all(s["max_shift_se"] > 0.5 for s in search["steps"][:-1])
    assert math.isfinite(last["max_shift_se"])
    assert "substeps 1, " in res.stderr and "one more doubling moves" in res.stderr
    assert not (tmp_path / "fit.checkpoint.jsonl").exists()
    # a spatial model takes no substeps; sample refuses auto
    fails(invoke("fit", str(path), "--coords", "x,y", "--value", "z", "--substeps", "auto",
                 "--out", str(tmp_path / "b.json")), "--substeps")
    fails(invoke("sample", str(path), "--coords", "x,y", "--time", "t", "--value", "z",
                 "--model", "advection-diffusion", "--substeps", "auto", "--out",
                 str(tmp_path / "b.nc")), "--substeps auto")
    fails(invoke(*base, "--substeps", "two", "--out", str(tmp_path / "c.json")), "--substeps")
    fails(invoke("fit", str(path), "--coords", "x,y", "--value", "z", "--refine-mesh",
                 "--out", str(tmp_path / "b.json")), "--refine-mesh")
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "c.json").exists()
    # --refine-mesh alone: a mesh search, the substeps left at 1
    res = invoke(*base, "--refine-mesh", "--out", str(out))
    ok(res)
    search = json.loads(out.read_text())["discretisation"]["substeps_search"]
    assert search["kinds"] == ["mesh"] and search["chosen"] == 1
    assert all(set(s["shifts_se"]) == {"mesh"} for s in search["steps"])
    assert search["mesh_nodes"] == search["steps"][-1]["mesh_nodes"] <= search["max_mesh_nodes"]
    assert "a √2 finer mesh moves the estimates by up to" in res.stderr


def test_without_a_finite_shift_the_search_stops_at_once(data):
    model = AdvectionDiffusionField(mesh=MESH, theta=1.0)
    model.discretisation_check = lambda *a, **k: {
        "refined": {"time": {"shift_se": {"kappa": math.inf, "c": math.nan}}}}
    chosen, _, search = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=8,
                                          restarts=0)
    assert chosen.substeps == 1 and len(search["steps"]) == 1
    assert search["steps"][0]["worst"] is None
    assert search["steps"][0]["max_shift_se"] == math.inf


def test_the_joint_search_refines_the_kind_that_moves_the_estimates_most(data):
    # a coarse --mesh-max-edge mesh and Crank–Nicolson: both refinements move the estimates;
    # every step refines the kind with the larger shift, the nodes stay within the cap, and
    # the fit at the end equals a direct fit of the model chosen
    model = AdvectionDiffusionField(mesh_options={"max_edge": (0.15, 0.45), "offset": 0.3})
    n0 = model.mesh_for(data).n_nodes
    chosen, res, search = fit_auto_substeps(model, data, tolerance_se=1e-9, max_substeps=2,
                                            restarts=0, kinds=("time", "mesh"),
                                            max_mesh_nodes=int(4.5 * n0))
    steps = search["steps"]
    assert search["kinds"] == ["time", "mesh"] and steps[0]["mesh_nodes"] == n0
    assert "mesh" in [s["next"] for s in steps]             # the mesh was refined
    for prev, nxt in zip(steps, steps[1:], strict=False):
        assert set(prev["shifts_se"]) == {"time", "mesh"}
        if prev["next"] == "mesh":
            # (25 stations are nodes of every mesh: fewer than twice the nodes)
            assert 1.4 * prev["mesh_nodes"] < nxt["mesh_nodes"] < 3 * prev["mesh_nodes"]
            assert nxt["substeps"] == prev["substeps"]
        else:
            assert prev["next"] == "time" and nxt["substeps"] == 2 * prev["substeps"]
            assert nxt["mesh_nodes"] == prev["mesh_nodes"]
    # at the first step both can be refined: the one with the larger shift is
    assert steps[0]["next"] == max(steps[0]["shifts_se"], key=steps[0]["shifts_se"].get)
    assert steps[-1]["next"] is None and search["mesh_nodes"] == steps[-1]["mesh_nodes"]
    assert search["mesh_nodes"] <= 4.5 * n0 and chosen.substeps == search["chosen"] <= 2
    assert chosen.mesh_for(data).n_nodes == search["mesh_nodes"]
    direct = fit(chosen.with_discretisation(), data, restarts=0)
    assert res.loglik == pytest.approx(direct.loglik, abs=1e-3)
    with pytest.raises(ValueError, match="kinds"):
        fit_auto_substeps(model, data, kinds=("space",))
    with pytest.raises(ValueError, match="given one"):
        fit_auto_substeps(AdvectionDiffusionField(mesh=MESH), data, kinds=("mesh",))
