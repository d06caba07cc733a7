"""The Zarr simulation store: Dask paths agree with the in-process loop, resume, bad input."""

import pickle

import numpy as np
import pytest
import zarr

import fieldfit  # noqa: F401  (first, see conftest)
from fieldfit.neural import store
from fieldfit.neural.designs import GridDesign, MixedDesign, UniformDesign
from fieldfit.neural.prior import Bound, Prior
from fieldfit.neural.simulation import ModelSpec, SimulationSpec
from fieldfit.neural.store import (
    ZarrSamples,
    load_samples,
    max_points,
    simulate_to_zarr,
)

N, CHUNK, SEED = 10, 4, 7  # chunks of 4, 4 and 2 samples
REAL_CHUNK = store._simulate_chunk


def make_spec(n_max=60, swap=False):
    bounds = {"range": Bound(0.05, 0.5, "loguniform"), "variance": Bound(0.5, 2.0),
              "nugget": Bound(0.01, 0.2), "mean": Bound(-1.0, 1.0)}
    if swap:  # the same parameters in another order: theta's columns differ
        bounds = dict(reversed(bounds.items()))
    prior = Prior(bounds)
    return SimulationSpec(ModelSpec("exponential"), prior,
                          UniformDesign(20, n_max), (1, 3))


@pytest.fixture(scope="module")
def spec():
    return make_spec()


@pytest.fixture(scope="module")
def reference(spec):
    return spec.simulate(range(N), SEED)


def f32(x):
    return np.asarray(x, np.float32).astype(np.float64)


def assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.theta.dtype == g.coords.dtype == g.values.dtype == np.float64
        np.testing.assert_array_equal(g.theta, w.theta)
        np.testing.assert_array_equal(g.coords, f32(w.coords))
        np.testing.assert_array_equal(g.values, f32(w.values))


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt (not an Exception either) without stopping pytest."""


def counting(monkeypatch, fail_after=None):
    """Replace the chunk function by one recording its chunks (and interrupted after some)."""
    calls = []

    def chunk(spec_dict, seed, start, *rest):
        if fail_after is not None and len(calls) == fail_after:
            raise Interrupt
        calls.append(start // CHUNK)
        return REAL_CHUNK(spec_dict, seed, start, *rest)

    monkeypatch.setattr(store, "_simulate_chunk", chunk)
    return calls


def test_layout_and_synchronous_path(spec, reference, tmp_path, capsys):
    path = simulate_to_zarr(spec, tmp_path / "s.zarr", N, seed=SEED, chunk_size=CHUNK,
                            scheduler="synchronous")
    assert "3/3" in capsys.readouterr().err  # the progress bar, in chunks
    assert_same(load_samples(path), reference)
    root = zarr.open_group(path, mode="r")
    assert root["values"].shape == (N, 3, 60) and root["values"].dtype == np.float32
    assert root["coords"].shape == (N, 60, 2) and root["coords"].chunks == (CHUNK, 60, 2)
    assert root["theta"].shape == (N, 4) and root["theta"].dtype == np.float64
    assert root["done"][:].tolist() == [True] * 3
    assert root.attrs["spec"] == spec.to_dict() | {"replicates": [1, 3]}
    assert (root.attrs["seed"], root.attrs["n_samples"], root.attrs["chunk_size"]) == (SEED, N,
                                                                                      CHUNK)
    n = root["n"][:]
    assert n.tolist() == [s.coords.shape[0] for s in reference]
    assert root["r"][:].tolist() == [s.values.shape[0] for s in reference]
    assert np.isnan(root["values"][0, :, n[0]:]).all()  # padding
    # a subset, in the order asked, and the sequence view
    assert_same(load_samples(path, [9, 2, 2]), [reference[i] for i in (9, 2, 2)])
    ds = ZarrSamples(path, cache_chunks=1)
    assert len(ds) == N
    assert_same([ds[i] for i in (0, 5, 9, -1)], [reference[i] for i in (0, 5, 9, 9)])
    assert_same(pickle.loads(pickle.dumps(ds))[3:5], reference[3:5])


def test_local_cluster_path(spec, reference, tmp_path):
    """scheduler=None: a LocalCluster of worker processes (2 on a 2-core machine)."""
    path = simulate_to_zarr(spec, tmp_path / "c.zarr", N, seed=SEED, chunk_size=CHUNK,
                            progress=False)
    assert_same(load_samples(path), reference)


@pytest.fixture(scope="module")
def threaded_cluster():
    """A running cluster of two in-process workers (threads: fast to start)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        yield cluster


def test_existing_cluster_is_used_and_kept(spec, reference, tmp_path, threaded_cluster):
    from distributed import Client

    path = simulate_to_zarr(spec, tmp_path / "e.zarr", N, seed=SEED, chunk_size=CHUNK,
                            scheduler=threaded_cluster.scheduler_address, progress=False)
    assert_same(load_samples(path), reference)
    with Client(threaded_cluster) as client:  # still running after simulate_to_zarr
        assert len(client.scheduler_info()["workers"]) == 2


def test_failed_task_on_cluster_keeps_finished_chunks(spec, reference, tmp_path,
                                                       threaded_cluster, monkeypatch):
    def chunk(spec_dict, seed, start, *rest):
        if start == CHUNK:
            raise RuntimeError("worker failure")
        return REAL_CHUNK(spec_dict, seed, start, *rest)

    monkeypatch.setattr(store, "_simulate_chunk", chunk)
    path = tmp_path / "f.zarr"
    kw = dict(seed=SEED, chunk_size=CHUNK, progress=False)
    with pytest.raises(RuntimeError, match="worker failure") as info:
        simulate_to_zarr(spec, path, N, scheduler=threaded_cluster.scheduler_address, **kw)
    assert "again with the same arguments to resume" in str(info.value.__notes__)
    done = zarr.open_group(path, mode="r")["done"][:]
    assert not done[1]
    finished = [k * CHUNK for k in np.flatnonzero(done)]
    assert_same(load_samples(path, finished), [reference[i] for i in finished])
    monkeypatch.setattr(store, "_simulate_chunk", REAL_CHUNK)
    simulate_to_zarr(spec, path, N, scheduler="synchronous", **kw)
    assert_same(load_samples(path), reference)


def test_chunk_marked_done_only_after_its_arrays_are_written(spec, tmp_path, monkeypatch):
    def chunk(spec_dict, seed, start, *rest):
        out = REAL_CHUNK(spec_dict, seed, start, *rest)
        if start == CHUNK:  # theta, n, r are written, then values fails
            out["values"] = out["values"][:, :1, :5]
        return out

    monkeypatch.setattr(store, "_simulate_chunk", chunk)
    path = tmp_path / "w.zarr"
    with pytest.raises(ValueError):
        simulate_to_zarr(spec, path, N, seed=SEED, chunk_size=CHUNK, scheduler="synchronous",
                         progress=False)
    root = zarr.open_group(path, mode="r")
    assert root["done"][:].tolist() == [True, False, False]
    assert root["n"][CHUNK] > 0  # the chunk was partly written, yet not marked done


def test_interrupted_run_resumes_only_missing_chunks(spec, reference, tmp_path, monkeypatch):
    path = tmp_path / "r.zarr"
    kw = dict(seed=SEED, chunk_size=CHUNK, scheduler="synchronous", progress=False)
    calls = counting(monkeypatch, fail_after=1)
    with pytest.raises(Interrupt) as info:
        simulate_to_zarr(spec, path, N, **kw)
    assert "1 of 3 chunks are complete" in str(info.value.__notes__)
    assert calls == [0]
    assert zarr.open_group(path, mode="r")["done"][:].tolist() == [True, False, False]
    assert_same(load_samples(path, [0, 3]), reference[:4:3])
    with pytest.raises(ValueError, match="run simulate_to_zarr again to resume"):
        load_samples(path, [3, 4])
    with pytest.raises(ValueError, match="not simulated yet"):
        load_samples(path)
    assert len(ZarrSamples(path)) == CHUNK

    calls = counting(monkeypatch)
    simulate_to_zarr(spec, path, N, **kw)
    assert sorted(calls) == [1, 2]
    assert_same(load_samples(path), reference)

    # a chunk whose done mark is lost (say, killed between data and mark) is redone
    root = zarr.open_group(path, mode="r+")
    root["done"][1] = False
    root["values"][4:8] = 0.0
    calls = counting(monkeypatch)
    simulate_to_zarr(spec, path, N, **kw)
    assert calls == [1]
    assert_same(load_samples(path), reference)
    calls = counting(monkeypatch)
    simulate_to_zarr(spec, path, N, **kw)  # complete: nothing to do
    assert calls == []


@pytest.mark.parametrize("change, word", [({"seed": SEED + 1}, "seed"),
                                          ({"chunk_size": 5}, "chunk_size"),
                                          ({"n_samples": N - 1}, "n_samples"),
                                          ({"spec": make_spec(n_max=50)}, "design"),
                                          ({"spec": make_spec(swap=True)}, "prior")])
def test_resume_with_other_arguments_raises(spec, tmp_path, monkeypatch, change, word):
    path = tmp_path / "m.zarr"
    kw = dict(spec=spec, path=path, n_samples=N, seed=SEED, chunk_size=CHUNK,
              scheduler="synchronous", progress=False)
    calls = counting(monkeypatch, fail_after=1)
    with pytest.raises(Interrupt):
        simulate_to_zarr(**kw)
    calls = counting(monkeypatch)
    with pytest.raises(ValueError, match=f"{word}.*new path"):
        simulate_to_zarr(**(kw | change))
    assert calls == []
    assert zarr.open_group(path, mode="r")["done"][:].tolist() == [True, False, False]


@pytest.mark.parametrize("first", [N, 8])  # 8: the chunks end whole
def test_a_larger_run_grows_the_store_and_simulates_only_the_new_samples(
        spec, tmp_path, monkeypatch, first):
    path = tmp_path / "g.zarr"
    kw = dict(seed=SEED, chunk_size=CHUNK, scheduler="synchronous", progress=False)
    simulate_to_zarr(spec, path, first, **kw)
    big = 17
    want = spec.simulate(range(big), SEED)
    calls = counting(monkeypatch)
    simulate_to_zarr(spec, path, big, **kw)
    # chunks of 4: [0, 4) [4, 8) [8, 12) [12, 16) [16, 17): the whole ones are kept, a partial
    # [8, 10) is simulated again whole
    assert sorted(calls) == [2, 3, 4]
    root = zarr.open_group(path, mode="r")
    assert root.attrs["n_samples"] == big and root["done"][:].all()
    assert root["values"].shape[0] == root["theta"].shape[0] == big
    assert_same(load_samples(path), want)
    assert len(ZarrSamples(path)) == big


def test_a_growth_interrupted_anywhere_is_completed_by_the_next_call(spec, tmp_path,
                                                                    monkeypatch):
    path = tmp_path / "gi.zarr"
    kw = dict(seed=SEED, chunk_size=CHUNK, scheduler="synchronous", progress=False)
    simulate_to_zarr(spec, path, N, **kw)
    calls = counting(monkeypatch, fail_after=0)  # interrupted at the first new chunk
    with pytest.raises(Interrupt):
        simulate_to_zarr(spec, path, 14, **kw)
    root = zarr.open_group(path, mode="r")
    assert root.attrs["n_samples"] == 14 and root["done"][:].tolist() == [True, True, False,
                                                                          False]
    root = zarr.open_group(path, mode="r+")  # an interruption within the resizing itself
    root["theta"].resize((N, root["theta"].shape[1]))
    root.attrs["n_samples"] = N
    root["done"][2] = True
    calls = counting(monkeypatch)
    simulate_to_zarr(spec, path, 14, **kw)
    assert sorted(calls) == [2, 3]
    assert_same(load_samples(path), spec.simulate(range(14), SEED))


def test_bad_input(spec, tmp_path):
    with pytest.raises(ValueError, match="n_samples"):
        simulate_to_zarr(spec, tmp_path / "a.zarr", 0, scheduler="synchronous")
    with pytest.raises(ValueError, match="seed"):
        simulate_to_zarr(spec, tmp_path / "a.zarr", 3, seed=-1, scheduler="synchronous")
    with pytest.raises(ValueError, match="scheduler"):
        simulate_to_zarr(spec, tmp_path / "a.zarr", 3, scheduler=2)
    assert not (tmp_path / "a.zarr").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="not a fieldfit simulation store"):
        simulate_to_zarr(spec, tmp_path / "other", 3, scheduler="synchronous")
    with pytest.raises(ValueError, match="no simulation store"):
        load_samples(tmp_path / "missing.zarr")
    path = simulate_to_zarr(spec, tmp_path / "b.zarr", 3, scheduler="synchronous",
                            progress=False)
    with pytest.raises(ValueError, match="outside 0 .. 2"):
        load_samples(path, [3])


def test_max_points_and_replicates():
    assert max_points(GridDesign(4, 5)) == 20
    assert max_points(MixedDesign((UniformDesign(10, 30), UniformDesign(5, 80)))) == 80
    assert max_points(MixedDesign((GridDesign(3, 3), GridDesign(6, 2)))) == 12
    assert MixedDesign((UniformDesign(10, 30), UniformDesign(5, 80))).n_range == (5, 80)
    with pytest.raises(ValueError, match="n_range"):
        max_points(object())


AD_BOUNDS = {"kappa": Bound(3.0, 12.0, "loguniform"), "c": Bound(0.05, 0.5, "loguniform"),
             "tau": Bound(3.0, 15.0, "loguniform"), "gamma_x": Bound(-0.5, 0.5),
             "gamma_y": Bound(-0.5, 0.5), "nugget": Bound(0.01, 0.2), "mean": Bound(-1.0, 1.0)}


@pytest.mark.parametrize("options", [{}, {"simulator": "spectral", "spectral_points": 8}])
def test_space_time_store_keeps_times_and_missing_values(tmp_path, threaded_cluster, options):
    """Series of 3–6 times on [0, 1] with up to 30 % missing values, from the mesh or the
    exact spectral simulator: the store (in process and on a Dask cluster) gives back the
    in-process samples, their times and their NaNs."""
    spec = SimulationSpec(ModelSpec("advection-diffusion", options), Prior(AD_BOUNDS),
                          UniformDesign(8, 12), 1, time_steps=(3, 6), time_span=1.0,
                          missing=0.3)
    want = spec.simulate(range(6), SEED)
    assert len({s.time_steps for s in want}) > 1
    for s in want:
        np.testing.assert_allclose(s.times, np.linspace(0.0, 1.0, s.time_steps))
        assert s.values.shape == (s.time_steps, len(s.coords))
    shares = [np.isnan(s.values).mean() for s in want]
    assert max(shares) > 0 and max(shares) <= 0.6
    for scheduler, name in (("synchronous", "a.zarr"), (threaded_cluster.scheduler_address,
                                                       "b.zarr")):
        path = simulate_to_zarr(spec, tmp_path / name, 6, seed=SEED, chunk_size=4,
                                scheduler=scheduler, progress=False)
        got = load_samples(path)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.times, w.times)
            np.testing.assert_array_equal(np.isnan(g.values), np.isnan(w.values))
            np.testing.assert_array_equal(g.values, f32(w.values))
    root = zarr.open_group(tmp_path / "a.zarr", mode="r")
    assert root["times"].shape == (6, 6) and root["values"].shape == (6, 6, 12)
    assert root["r"][:].tolist() == [1] * 6


def test_space_time_spec_checks_its_times():
    prior = Prior(AD_BOUNDS)
    with pytest.raises(ValueError, match="2 <= lo <= hi"):
        SimulationSpec(ModelSpec("advection-diffusion"), prior, UniformDesign(8, 12),
                       time_steps=(5, 3))
    with pytest.raises(ValueError, match="time_span must be positive"):
        SimulationSpec(ModelSpec("advection-diffusion"), prior, UniformDesign(8, 12),
                       time_steps=4, time_span=0.0)
    with pytest.raises(ValueError, match="missing must be a share"):
        SimulationSpec(ModelSpec("advection-diffusion"), prior, UniformDesign(8, 12),
                       time_steps=4, missing=0.7)
    with pytest.raises(ValueError, match="for space-time models"):
        SimulationSpec(ModelSpec("exponential"), make_spec().prior, UniformDesign(20, 30),
                       missing=0.1)
    spec = SimulationSpec(ModelSpec("advection-diffusion"), prior, UniformDesign(8, 12),
                          time_steps=(3, 6), time_span=2.0, missing=0.1)
    again = SimulationSpec.from_dict(spec.to_dict())
    assert (again.time_steps, again.time_span, again.missing) == ((3, 6), 2.0, 0.1)
    assert again.rows_range == (3, 6)


def test_a_prior_in_derived_coordinates_simulates_through_its_map(tmp_path):
    """An advection–diffusion prior over range, memory, velocity, variance and nugget share
    (unit square and interval) draws those and simulates with the model's parameters."""
    from fieldfit.models.ad_scaling import params_from_derived

    bounds = {"range": Bound(0.05, 0.5, "loguniform"), "memory": Bound(0.01, 3.0, "loguniform"),
              "velocity_x": Bound(-2.0, 2.0), "velocity_y": Bound(-2.0, 2.0),
              "nugget_share": Bound(0.0, 0.5), "mean": Bound(-1.0, 1.0)}
    prior = Prior(bounds, {"marginal_variance": 1.0}, "advection-diffusion-derived")
    spec = SimulationSpec(ModelSpec("advection-diffusion", {"simulator": "spectral"}), prior,
                          UniformDesign(15, 20), 1, time_steps=(4, 6), time_span=1.0)
    theta, *_ = spec.draw_setting(SEED, 3)
    want = params_from_derived(prior.params(theta))
    assert spec.params(theta) == pytest.approx(want)
    s = spec.simulate([3], SEED)[0]
    assert s.values.shape == (s.time_steps, len(s.coords)) and np.isfinite(s.values).all()
    again = SimulationSpec.from_dict(spec.to_dict())
    assert again.prior.parameterisation == "advection-diffusion-derived"
    np.testing.assert_array_equal(again.simulate([3], SEED)[0].values, s.values)
    with pytest.raises(ValueError, match="needs \\['memory'\\]"):
        Prior({k: v for k, v in bounds.items() if k != "memory"}, {"marginal_variance": 1.0},
              "advection-diffusion-derived")
    with pytest.raises(ValueError, match="unknown parameterisation"):
        Prior(bounds, {}, "polar")
