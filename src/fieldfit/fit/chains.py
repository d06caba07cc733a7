"""The chains of :func:`fieldfit.sample`: one NUTS run per chain, in this process or in
spawned worker processes (one per core), with the same draws for the same seeds either way.

A chain's start and torch seed are drawn from (seed, chain index) alone, and it runs on one
torch thread (one OpenMP and BLAS thread in a worker), so its draws do not depend on which
process runs it. Ctrl-C sets a stop event that ends every chain at its next step with its
draws so far (:func:`kept_chains` chooses which to keep).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..params import DTYPE, ParamSpace
from ..settings import settings
from .potential import Potential

#: chains start at û + JITTER × se_u × z, z ~ N(0, I) (se_u: the MLE's standard errors in u,
#: at most ``mcmc.MAX_JITTER_SD``: a flat direction's standard error can be huge)
JITTER = 0.5


@dataclass
class Chain:
    """One chain's work, everything a worker process needs (picklable): the sampled model,
    the data, the parameter space with its priors, the start û and its standard errors
    ``(k,)``, the initial inverse mass ``(k,)`` or None, the chain's index, the seed, the
    counts, the NUTS options, the Matérn table step and the caller's numerical settings."""

    model: object
    obs: object
    space: ParamSpace
    u_hat: np.ndarray
    se_u: np.ndarray
    inverse_mass: np.ndarray | None
    index: int
    seed: int
    draws: int
    warmup: int
    options: dict
    table_step: float | None
    numerics: dict
    progress: bool = False


@dataclass
class ChainResult:
    """A chain's draws, one tuple per draw: (u ``(k,)``, diverging, ℓ, log prior, step size,
    tree depth); ``interrupted`` when it stopped early; the potential's evaluations."""

    rows: list
    interrupted: bool
    evaluations: int


#: a worker process's link to the parent: the stop event and the chains' step counters
#: (:func:`_init_worker`); None in the parent process
_WORKER: dict = {"stop": None, "counts": None}


def _init_worker(stop, counts) -> None:
    """Set up a worker process: Ctrl-C is the parent's to handle (it sets ``stop``, which
    ends the chains at their next step), one torch thread."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _WORKER.update(stop=stop, counts=counts)


#: the thread-count variables of OpenMP and the BLAS libraries, 1 in the worker processes
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextlib.contextmanager
def _one_thread_environment():
    """The thread-count variables at 1 inside, so that processes started there run one
    thread each: ``torch.set_num_threads(1)`` alone leaves OpenMP's and the BLAS
    libraries' own thread pools, which spin against each other when two chains share the
    cores."""
    before = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _one_torch_thread():
    """One torch thread inside (the worker processes' setting: the same rounding, so the
    same draws, whichever process runs a chain)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_chain(job: Chain) -> ChainResult:
    """Run one chain (in this process or a worker): a start jittered from û and a torch seed,
    both drawn from (seed, chain index), then NUTS; Ctrl-C (or the parent's stop event)
    ends it with the draws so far."""
    from pyro.infer.mcmc import MCMC

    stop, counts = _WORKER["stop"], _WORKER["counts"]
    rows: list[tuple] = []
    if stop is not None and stop.is_set():   # stopped before this chain began
        return ChainResult(rows, True, 0)
    interrupted = False
    with settings(**job.numerics), torch.random.fork_rng(devices=[]), _one_torch_thread():
        potential = Potential(job.model, job.obs, job.space, job.table_step)
        rng = np.random.default_rng([job.seed, job.index])
        u0 = jittered_start(potential, job.u_hat, job.se_u, rng)

        def hook(kernel, params, stage, i):
            if counts is not None:
                counts[job.index] += 1
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            if not stage.startswith("Sample"):
                potential.seen.clear()
                return
            u = params["u"].detach().numpy().copy()
            divs = kernel.diagnostics()["divergences"]
            ll, lp = potential.take(u)
            rows.append((u, bool(divs and divs[-1] == i), ll, lp, float(kernel.step_size),
                         kernel.tree_depth))

        kernel = laplace_nuts(potential, job.inverse_mass, **job.options)
        mcmc = MCMC(kernel, num_samples=job.draws, warmup_steps=job.warmup,
                    initial_params={"u": torch.tensor(u0, dtype=DTYPE)}, hook_fn=hook,
                    disable_progbar=not job.progress, num_chains=1)
        torch.manual_seed(int(rng.integers(2**62)))
        try:
            mcmc.run()
        except KeyboardInterrupt:
            interrupted = True
    return ChainResult(rows, interrupted, potential.evaluations)


def run_chains(jobs: list[Chain], cores: int, show: bool) -> list[ChainResult]:
    """Every chain's result in chain order (up to the interrupted one when they run here):
    in ``cores`` worker processes, or one after another in this process with ``cores=1`` or
    a model that cannot be pickled."""
    if cores > 1:
        try:
            pickle.dumps(jobs[0])
        except Exception as e:   # any object of the user's may refuse pickling its own way
            warnings.warn(f"the model or data cannot be sent to worker processes ({e}): the "
                          "chains run one after another in this process", stacklevel=3)
            cores = 1
    if cores > 1:
        return _run_in_workers(jobs, cores, show)
    return _run_here(jobs, show)


def _run_here(jobs: list[Chain], show: bool) -> list[ChainResult]:
    """The chains one after another in this process, up to the first interrupted one."""
    results = []
    for job in jobs:
        results.append(run_chain(replace(job, progress=show)))
        if results[-1].interrupted:
            break
    return results


def _run_in_workers(jobs: list[Chain], cores: int, show: bool) -> list[ChainResult]:
    """The chains in ``cores`` spawned worker processes, a progress bar per chain here.

    Ctrl-C here (or a chain interrupted there) sets the stop event: the running chains end
    at their next step and return their draws so far, the waiting ones return none. When
    the workers die or cannot start (an unguarded script: the Notes of
    :func:`sample`), the chains they did not finish run here, with a warning: a chain's
    draws depend only on its seed and index."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    stop, counts = ctx.Event(), ctx.RawArray("q", len(jobs))
    bars = _ChainBars(jobs, show)
    results: dict[int, ChainResult] = {}
    broken = False
    pool = ProcessPoolExecutor(cores, mp_context=ctx, initializer=_init_worker,
                               initargs=(stop, counts))
    try:
        with _one_thread_environment():   # the workers start in submit
            futures = {pool.submit(run_chain, job): job.index for job in jobs}
        while len(results) < len(futures) and not broken:
            try:
                waiting = [f for f, i in futures.items() if i not in results]
                wait(waiting, timeout=0.25, return_when=FIRST_COMPLETED)
                bars.update(counts)
                for f in waiting:
                    if not f.done():
                        continue
                    try:
                        results[futures[f]] = _result(f, stop)
                    except BrokenProcessPool:
                        if not stop.is_set():
                            broken = True
                            break
                        results[futures[f]] = ChainResult([], True, 0)   # after Ctrl-C
            except KeyboardInterrupt:
                stop.set()
    except BaseException:
        stop.set()
        raise
    finally:
        bars.close()
        pool.shutdown(wait=True, cancel_futures=True)
    if broken:
        warnings.warn("the worker processes running the chains stopped or could not start "
                      "(in a script, call fieldfit.sample under `if __name__ == "
                      "'__main__':`: the workers are spawned, which imports the main module):"
                      " the chains run one after another in this process", stacklevel=4)
        missing = [job for job in jobs if job.index not in results]
        results.update(zip([job.index for job in missing], _run_here(missing, show),
                           strict=False))
    return [results[i] for i in sorted(results)]


def _result(future, stop) -> ChainResult:
    """A finished worker's chain; an interrupted one sets ``stop`` for the others."""
    result = future.result()
    if result.interrupted:
        stop.set()
    return result


class _ChainBars:
    """One tqdm bar per chain, fed from the workers' step counters (disabled unless
    ``show``)."""

    def __init__(self, jobs: list[Chain], show: bool):
        from tqdm.auto import tqdm

        self.jobs = jobs
        self.bars = [tqdm(total=job.warmup + job.draws, desc=f"chain {job.index} warm-up",
                          unit=" step", position=k, leave=False, disable=not show)
                     for k, job in enumerate(jobs)]

    def update(self, counts) -> None:
        for job, bar in zip(self.jobs, self.bars, strict=True):
            done = counts[job.index]
            if done > job.warmup and bar.n <= job.warmup:
                bar.set_description(f"chain {job.index} sampling", refresh=False)
            bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars:
            bar.close()


def kept_chains(results: list[ChainResult], chains: int) -> tuple[list[list[tuple]], bool]:
    """The chains to keep, of a common length, and whether sampling was interrupted.

    Every chain when none was interrupted; else the finished chains; when none finished (the
    chains ran in parallel), the interrupted chains that keep the most draws in all when cut
    to the shortest of them (on a tie, more chains). KeyboardInterrupt when there is no draw
    to keep."""
    interrupted = len(results) < chains or any(r.interrupted for r in results)
    finished = [r.rows for r in results if not r.interrupted]
    if finished:
        return finished, interrupted
    lengths = sorted({len(r.rows) for r in results if r.rows}, reverse=True)
    if not lengths:
        raise KeyboardInterrupt
    length = max(lengths, key=lambda n: (n * sum(len(r.rows) >= n for r in results), -n))
    return [r.rows[:length] for r in results if len(r.rows) >= length], interrupted


def laplace_nuts(potential, inverse_mass: np.ndarray | None, **options):
    """Pyro's NUTS on ``potential``, its initial inverse mass matrix the diagonal
    ``inverse_mass (k,)`` (:func:`laplace_variances`) instead of Pyro's identity, and its
    step size found again for it; None keeps the identity.

    Pyro takes no initial mass matrix (NumPyro's NUTS does: ``inverse_mass_matrix``), so the
    adapter's set-up is extended here. Started on the identity, the first warm-up window of
    a posterior with sds of 10⁻² in u (large data) integrates with step sizes of that order
    and trees of hundreds of leapfrog steps until the first mass-matrix window ends; the
    windowed adaptation still refines the metric from the draws.

    The kernel's ``tree_depth`` is the last transition's tree depth, as Stan counts it: the
    doublings that completed without a divergence or a U-turn inside the new subtree (a
    transition at ``max_tree_depth`` stopped only because of the limit or a U-turn of the
    whole trajectory)."""
    from pyro.infer.mcmc import NUTS

    class LaplaceNUTS(NUTS):
        tree_depth = 0
        _building = 0

        def sample(self, params):
            self.tree_depth = 0
            return super().sample(params)

        def _build_tree(self, z, r, z_grads, log_slice, direction, tree_depth, energy_current):
            top = self._building == 0   # a doubling, not a subtree of one
            self._building += 1
            try:
                tree = super()._build_tree(z, r, z_grads, log_slice, direction, tree_depth,
                                           energy_current)
            finally:
                self._building -= 1
            if top and not (tree.diverging or tree.turning):
                self.tree_depth = tree_depth + 1
            return tree

        def _initialize_adapter(self):
            super()._initialize_adapter()
            if inverse_mass is None:
                return
            adapter = self._adapter.mass_matrix_adapter
            ((sites, current),) = adapter.inverse_mass_matrix.items()
            m = torch.as_tensor(inverse_mass, dtype=current.dtype)
            adapter.inverse_mass_matrix = {sites: m if current.dim() == 1 else torch.diag(m)}
            if self._adapter.adapt_step_size:
                self._adapter.reset_step_size_adaptation(self._initial_params)

    return LaplaceNUTS(potential_fn=potential, **options)


def jittered_start(potential: Potential, u_hat, se_u, rng) -> np.ndarray:
    """û + JITTER se_u z (0.1 in place of an unknown se), the jitter halved (up to 8 times)
    until the point is feasible."""
    se_u = np.where(np.isfinite(se_u), se_u, 0.1)
    z = rng.standard_normal(len(u_hat))
    scale = JITTER
    for _ in range(8):
        u0 = u_hat + scale * se_u * z
        if math.isfinite(potential.evaluate(u0)[0]):
            return u0
        scale /= 2
    return u_hat.copy()


__all__ = ["JITTER", "Chain", "ChainResult", "jittered_start", "kept_chains", "laplace_nuts",
           "run_chain", "run_chains"]
