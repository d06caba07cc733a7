"""Simulated (θ, data) pairs on disk: a Zarr (v3) store written in parallel with Dask, resumable.

``simulate_to_zarr(spec, path, n_samples, seed)`` simulates samples ``0 .. n_samples-1`` of the run
with ``seed`` (sample ``i`` depends on ``(seed, i)`` only, see :mod:`.simulation`) in chunks of
``chunk_size`` samples, one Dask task per chunk. Workers receive ``spec.to_dict()`` (plain data)
and rebuild the spec; the client writes each chunk into the store as soon as it is finished
(with at most twice as many chunks in flight as worker threads, so memory stays bounded).

Layout of the store (a directory; ``N = n_samples``, ragged data padded)::

    theta   (N, p)               float64   parameters, in the order of ``spec.prior.names``
    n       (N,)                 int32     number of locations of each sample
    r       (N,)                 int32     number of replicates of each sample
    coords  (N, n_max, 2)        float32   locations, rows n.. padded with NaN
    values  (N, r_max, n_max)    float32   replicates, padded with NaN
    times   (N, t_max)           float64   space-time only: the times of each sample, padded
    done    (n_chunks,)          bool      chunk k (samples k*chunk_size ..) completely written

A space-time sample's values are its ``r`` replicates' ``T = len(times)`` slices in turn
(``r * T`` rows); a missing value is NaN inside those rows (padding is outside them).

Every array but ``done`` is chunked along N by ``chunk_size`` (``done`` one element a chunk file),
``n_max`` and ``r_max`` come from the design and the replicates (:func:`max_points`,
``spec.rows_range``). Root attributes: ``spec`` (``spec.to_dict()``), ``seed``, ``n_samples``,
``chunk_size``, ``param_names``, ``n_max``, ``r_max``, ``fieldfit_version``.

Resume: the store is created atomically (built under a temporary name, then renamed). A chunk is
marked done only after all its arrays are written (each chunk file is itself written atomically
by Zarr), so an interrupted run (KeyboardInterrupt, a worker crash, a killed client) leaves
finished chunks marked and unfinished ones not; calling ``simulate_to_zarr`` again with the same
spec, seed, ``n_samples`` and ``chunk_size`` simulates only the chunks not done (and any other
arguments raise a ``ValueError`` naming what differs).

Growth: called with a larger ``n_samples`` and otherwise the same arguments, a store grows to
it (its arrays are resized along N) and only the new samples are simulated; a last chunk that
was partial is simulated again whole (sample ``i`` depends on ``(seed, i)`` only, so its first
samples come out the same). The arrays are resized before the count is recorded, so a growth
interrupted anywhere is taken up again by the next call. :func:`load_samples` and
:class:`ZarrSamples` read the samples back as :class:`~.simulation.Sample` (float64).

With ``scheduler=None`` a ``distributed.LocalCluster`` of worker processes is started (and shut
down afterwards): a script calling it needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import OrderedDict
from contextlib import closing
from pathlib import Path

import numpy as np
import zarr
from tqdm.auto import tqdm

from ..settings import one_thread
from .simulation import Sample, SimulationSpec

ARRAYS = ("theta", "n", "r", "coords", "values")
#: the arrays of a space-time store beyond :data:`ARRAYS`
SPACE_TIME_ARRAYS = ("times",)
MAX_LOCAL_WORKERS = 32


def max_points(design) -> int:
    """The largest number of locations ``design`` can draw.

    Parameters
    ----------
    design : object
        A design with an ``n_range`` property (:mod:`fieldfit.neural.designs`).

    Returns
    -------
    int
        ``n_max`` (``ny * nx`` for a grid; the largest over the designs of a mixture).

    Raises
    ------
    ValueError
        If the design has no ``n_range``.
    """
    if not hasattr(design, "n_range"):
        raise ValueError(f"cannot tell the largest number of locations of {design!r}: "
                         "give it an n_range property")
    return int(design.n_range[1])


def _chunk_bounds(k: int, chunk_size: int, n_samples: int) -> tuple[int, int]:
    """First and one-past-last sample of chunk ``k``."""
    return k * chunk_size, min((k + 1) * chunk_size, n_samples)


def _canonical(spec: SimulationSpec) -> dict:
    """``spec.to_dict()`` as JSON data, after a round trip (so 1 and 1.0 read the same)."""
    return json.loads(json.dumps(SimulationSpec.from_dict(spec.to_dict()).to_dict()))


def _simulate_chunk(spec_dict: dict, seed: int, start: int, stop: int, n_max: int,
                    r_max: int) -> dict[str, np.ndarray]:
    """Samples ``start .. stop-1`` as padded arrays (runs on a worker, one BLAS / torch thread:
    workers are as many as cores, and oversubscribed BLAS threads spin-wait each other)."""
    with one_thread():
        return _simulate_chunk_arrays(spec_dict, seed, start, stop, n_max, r_max)


def _simulate_chunk_arrays(spec_dict, seed, start, stop, n_max, r_max):
    spec, m = SimulationSpec.from_dict(spec_dict), stop - start
    out = {"theta": np.empty((m, len(spec.prior))), "n": np.empty(m, np.int32),
           "r": np.empty(m, np.int32), "coords": np.full((m, n_max, 2), np.nan, np.float32),
           "values": np.full((m, r_max, n_max), np.nan, np.float32)}
    if spec.space_time:
        out["times"] = np.full((m, spec.time_step_range[1]), np.nan)
    for j, i in enumerate(range(start, stop)):
        s = spec.simulate_one(seed, i)
        rows, n = s.values.shape
        if n > n_max or rows > r_max:
            raise ValueError(f"sample {i} has {n} locations and {rows} rows of values, more "
                             f"than the n_max={n_max}, r_max={r_max} of the design and "
                             "replicates")
        out["theta"][j], out["n"][j], out["r"][j] = s.theta, n, rows // s.time_steps
        out["coords"][j, :n] = s.coords
        out["values"][j, :rows, :n] = s.values
        if s.times is not None:
            out["times"][j, :len(s.times)] = s.times
    return out


def _open(path, mode: str = "r") -> zarr.Group:
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no simulation store at {path}")
    if not (path / "zarr.json").is_file():
        raise ValueError(f"{path} is not a fieldfit simulation store (no zarr.json there)")
    root = zarr.open_group(path, mode=mode)
    missing = {"spec", "seed", "n_samples", "chunk_size", "fieldfit_version"} - set(root.attrs)
    if missing or "done" not in root:
        raise ValueError(f"{path} is a Zarr store but not a fieldfit simulation store "
                         f"(missing {sorted(missing) or ['done']})")
    return root


def _create(path: Path, attrs: dict, p: int, n_max: int, r_max: int,
            t_max: int | None = None) -> None:
    """Build the empty store under a temporary name next to ``path``, then rename it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        root = zarr.open_group(tmp, mode="w", zarr_format=3)
        root.attrs.update(attrs)
        big, cs = attrs["n_samples"], attrs["chunk_size"]
        nc = -(-big // cs)
        for name, shape, dtype, fill in [
                ("theta", (big, p), "float64", np.nan), ("n", (big,), "int32", 0),
                ("r", (big,), "int32", 0), ("coords", (big, n_max, 2), "float32", np.nan),
                ("values", (big, r_max, n_max), "float32", np.nan), ("done", (nc,), "bool", False),
                *([("times", (big, t_max), "float64", np.nan)] if t_max else [])]:
            chunks = (1,) if name == "done" else (cs, *shape[1:])
            root.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill)
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_same(root: zarr.Group, attrs: dict, path: Path) -> None:
    diffs = []
    for key in ("seed", "n_samples", "chunk_size"):
        if key == "n_samples" and attrs[key] > root.attrs[key]:
            continue  # a larger run grows the store (_grow)
        if root.attrs[key] != attrs[key]:
            diffs.append(f"{key}={root.attrs[key]!r} there, {attrs[key]!r} now")
    old, new = root.attrs["spec"], attrs["spec"]
    if json.dumps(old) != json.dumps(new):  # order matters: it is the order of theta's columns
        parts = sorted(k for k in set(old) | set(new)
                       if json.dumps(old.get(k)) != json.dumps(new.get(k)))
        diffs.append(f"spec differs in {parts}: {[old.get(k) for k in parts]} there, "
                     f"{[new.get(k) for k in parts]} now")
    if diffs:
        raise ValueError(f"the simulation store at {path} was made with other arguments ("
                         + "; ".join(diffs) + "): resume with the same ones (or a larger "
                         "n_samples, to grow it), or use a new path")


def _grow(root: zarr.Group, n_samples: int) -> None:
    """Resize the store's arrays to ``n_samples`` samples; a partial last chunk is undone.

    Idempotent, and the count in the attributes is written last: an interrupted growth is
    completed by the next call.
    """
    old, cs = int(root.attrs["n_samples"]), int(root.attrs["chunk_size"])
    for name in ARRAYS + SPACE_TIME_ARRAYS:
        if name in root and root[name].shape[0] != n_samples:
            root[name].resize((n_samples, *root[name].shape[1:]))
    n_chunks = -(-n_samples // cs)
    if root["done"].shape[0] != n_chunks:
        root["done"].resize((n_chunks,))
    if old % cs:  # its last chunk now holds more samples than were simulated
        root["done"][old // cs] = False
    root.attrs["n_samples"] = n_samples


def _run_synchronous(args: list[tuple]):
    import dask

    for k, *a in args:
        yield k, dask.delayed(_simulate_chunk, pure=True)(*a).compute(scheduler="synchronous")


def _run_distributed(args: list[tuple], scheduler):
    import logging

    from dask.base import tokenize
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=max(1, min(cpus, len(args), MAX_LOCAL_WORKERS)),
                               threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.WARNING)
    client = Client(cluster if cluster is not None else scheduler)
    queue, futures = list(reversed(args)), {}  # futures: key -> (future, chunk)

    def submit():
        k, *a = queue.pop()
        f = client.submit(_simulate_chunk, *a, key=f"fieldfit-simulate-{k}-{tokenize(*a)}")
        futures[f.key] = (f, k)
        return f

    try:
        width = max(2, 2 * sum(client.nthreads().values()))
        ac = as_completed([submit() for _ in range(min(width, len(queue)))])
        for f in ac:
            out = f.result()
            _, k = futures.pop(f.key)
            if queue:
                ac.add(submit())
            yield k, out
    finally:
        if futures:
            client.cancel([f for f, _ in futures.values()])
        client.close()  # a cluster given by its address keeps running
        if cluster is not None:
            cluster.close()


def simulate_to_zarr(spec: SimulationSpec, path, n_samples: int, seed: int = 0,
                     chunk_size: int = 256, scheduler=None, progress: bool = True) -> Path:
    """Simulate samples ``0 .. n_samples-1`` of the run with ``seed`` into the Zarr store ``path``.

    Chunks already done in an existing store are skipped (resume); see the module docstring for
    layout and guarantees. An interrupted run's exception carries a note saying how many chunks
    are complete.

    Parameters
    ----------
    spec : SimulationSpec
        What to simulate.
    path : str or pathlib.Path
        The store (a directory; created if missing or empty).
    n_samples : int
        Number of samples, at least 1.
    seed : int, default 0
        The run's seed, at least 0.
    chunk_size : int, default 256
        Samples per chunk (one Dask task each), at least 1.
    scheduler : str or None, optional
        ``None`` (a LocalCluster of one-thread worker processes, one a CPU, shut down
        afterwards), ``"synchronous"`` (in process, no cluster) or the address of a running Dask
        scheduler (not shut down).
    progress : bool, default True
        Show a progress bar over chunks.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``spec`` is not a :class:`SimulationSpec`, a count or the scheduler is invalid, or an
        existing store was made with other arguments (naming what differs; a larger
        ``n_samples`` grows it) or is not a fieldfit simulation store.
    """
    path = Path(path)
    if not isinstance(spec, SimulationSpec):
        raise ValueError(f"spec must be a SimulationSpec, got {type(spec).__name__}")
    for name, v, lo in (("n_samples", n_samples, 1), ("chunk_size", chunk_size, 1),
                        ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError("scheduler must be None, 'synchronous' or the address of a Dask "
                         f"scheduler, got {scheduler!r}")
    from .. import __version__

    n_samples, chunk_size, seed = int(n_samples), int(chunk_size), int(seed)
    n_max, r_max = max_points(spec.design), spec.rows_range[1]
    spec_dict = _canonical(spec)
    attrs = {"spec": spec_dict, "seed": seed, "n_samples": n_samples, "chunk_size": chunk_size,
             "param_names": list(spec.prior.names), "n_max": n_max, "r_max": r_max,
             "fieldfit_version": __version__}
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        _check_same(_open(path), attrs, path)
    else:
        _create(path, attrs, len(spec.prior), n_max, r_max,
                spec.time_step_range[1] if spec.space_time else None)
    root = _open(path, mode="r+")
    if root.attrs["n_samples"] < n_samples:
        _grow(root, n_samples)
    done = root["done"][:]
    args = [(k, spec_dict, seed, *_chunk_bounds(k, chunk_size, n_samples), n_max, r_max)
            for k in np.flatnonzero(~done).tolist()]
    if not args:
        return path
    run = (_run_synchronous(args) if scheduler == "synchronous"
           else _run_distributed(args, scheduler))
    bar = tqdm(total=len(done), initial=int(done.sum()), desc="simulate", unit=" chunk",
               disable=not progress)
    try:
        with closing(run) as results, bar:
            for k, out in results:
                a, b = _chunk_bounds(k, chunk_size, n_samples)
                for name in out:
                    root[name][a:b] = out[name]
                root["done"][k] = True  # only now: the chunk's arrays are all written
                done[k] = True
                bar.update()
    except BaseException as e:
        e.add_note(f"{int(done.sum())} of {len(done)} chunks are complete in {path}; call "
                   "simulate_to_zarr again with the same arguments to resume")
        raise
    return path


def _indices(n_total: int, indices) -> np.ndarray:
    if indices is None:
        return np.arange(n_total)
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"indices must be a sequence of integers, got {indices!r}")
    idx = idx.astype(np.int64)
    bad = idx[(idx < 0) | (idx >= n_total)]
    if bad.size:
        raise ValueError(f"sample indices {bad[:5].tolist()} are outside 0 .. {n_total - 1}")
    return idx


def _read_chunk(root: zarr.Group, k: int) -> dict[str, np.ndarray]:
    a, b = _chunk_bounds(k, root.attrs["chunk_size"], root.attrs["n_samples"])
    return {name: root[name][a:b] for name in ARRAYS + SPACE_TIME_ARRAYS if name in root}


def _sample(block: dict[str, np.ndarray], j: int) -> Sample:
    n, r = int(block["n"][j]), int(block["r"][j])
    times = None
    if "times" in block:
        times = block["times"][j]
        times = times[~np.isnan(times)]
    rows = r * (1 if times is None else len(times))
    return Sample(block["theta"][j].astype(np.float64),
                  block["coords"][j, :n].astype(np.float64),
                  block["values"][j, :rows, :n].astype(np.float64), times)


def load_samples(path, indices=None) -> list[Sample]:
    """Samples ``indices`` (all when ``None``) of the store at ``path``, in that order, float64.

    Parameters
    ----------
    path : str or pathlib.Path
        The store.
    indices : sequence of int or None, optional
        Sample indices in ``0 .. n_samples - 1``.

    Returns
    -------
    list of Sample
        The samples, padding removed.

    Raises
    ------
    ValueError
        If the store is missing or not a simulation store, an index is invalid or out of range,
        or a sample is in a chunk not simulated yet.
    """
    root = _open(path)
    cs = root.attrs["chunk_size"]
    idx = _indices(root.attrs["n_samples"], indices)
    done = root["done"][:]
    chunks = np.unique(idx // cs)
    todo = chunks[~done[chunks]]
    if todo.size:
        raise ValueError(f"samples in chunks {todo[:10].tolist()} of {path} are not simulated yet "
                         f"({int(done.sum())} of {len(done)} chunks done): run "
                         "simulate_to_zarr again to resume")
    out: list[Sample | None] = [None] * len(idx)
    for k in chunks.tolist():
        block = _read_chunk(root, k)
        for pos in np.flatnonzero(idx // cs == k).tolist():
            out[pos] = _sample(block, int(idx[pos]) - k * cs)
    return out


class ZarrSamples:
    """The completed samples of a store as a sequence (``len``, ``[i]`` -> Sample), for training.

    Item ``i`` is sample ``indices[i]`` of the run (the samples of done chunks, in order); chunks
    are read whole and the last ``cache_chunks`` kept. Picklable (reopens the store lazily).
    Indexing takes integers (negative ones count from the end) or slices (giving lists), and
    raises ``TypeError`` or ``IndexError`` as a list does.

    Parameters
    ----------
    path : str or pathlib.Path
        The store.
    cache_chunks : int, default 4
        Chunks kept in memory (at least 1).

    Raises
    ------
    ValueError
        If the store is missing or not a fieldfit simulation store.
    """

    def __init__(self, path, cache_chunks: int = 4):
        self.path = Path(path)
        self.cache_chunks = max(1, int(cache_chunks))
        root = _open(self.path)
        self.seed, self.chunk_size = root.attrs["seed"], root.attrs["chunk_size"]
        self.spec = SimulationSpec.from_dict(root.attrs["spec"])
        big, cs = root.attrs["n_samples"], self.chunk_size
        done = root["done"][:]
        self.indices = (np.concatenate([np.arange(*_chunk_bounds(k, cs, big))
                                        for k in np.flatnonzero(done)])
                        if done.any() else np.empty(0, np.int64))
        self._root, self._cache = root, OrderedDict()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"ZarrSamples indices must be integers or slices, not {type(i)}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        g = int(self.indices[i])
        k = g // self.chunk_size
        if k not in self._cache:
            self._root = self._root if self._root is not None else _open(self.path)
            self._cache[k] = _read_chunk(self._root, k)
            if len(self._cache) > self.cache_chunks:
                self._cache.popitem(last=False)
        self._cache.move_to_end(k)
        return _sample(self._cache[k], g - k * self.chunk_size)

    def __getstate__(self):
        return {**self.__dict__, "_root": None, "_cache": OrderedDict()}
