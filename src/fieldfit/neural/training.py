"""Training of amortized estimators: mini-batches of simulations, early stopping, checkpoints.

``train`` minimises an estimator's ``loss(inputs, u)`` with Adam over simulated datasets given
as a fixed sequence (in memory or :class:`~fieldfit.neural.store.ZarrSamples`) or simulated
afresh every ``refresh`` epochs (``simulate_on_the_fly``: each epoch sees new data, the
regime in which neural Bayes estimators do not overfit; Sainsbury-Dale et al. 2024 §2.3). The
validation loss decides the learning-rate decay (halved after ``patience // 2`` epochs without
improvement) and early stopping (after ``patience``); the best weights are kept and restored at
the end, also when the run is interrupted with Ctrl-C.

**Checkpoints.** After every epoch the whole state of the run is written atomically to
``checkpoint`` (a ``torch.save`` file of plain data, :data:`CHECKPOINT_FORMAT`): the current
and the best weights, the optimiser's and the learning-rate scheduler's state, the epoch, the
history, the early-stopping counters, the elapsed seconds, the random states (torch's and the
shuffling generator's) and a *fingerprint* of the run's set-up; its ``state`` and ``epoch``
are the best weights and their epoch, ``current`` and ``last_epoch`` those of the last epoch.
``resume=True`` continues from it: a run killed at any point (SIGKILL included) and resumed
ends with the same weights and history as one never stopped (on the CPU, one thread: the
same floating-point operations in the same order). A checkpoint of a finished run resumes to
its end at once; one whose fingerprint differs from the new run's is refused
(:func:`check_fingerprint`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import write_atomic
from .pilot import pilot_cache
from .simulation import Sample, SimulationSpec, validation_indices


@dataclass
class TrainingSettings:
    """Numerical settings of a training run (see :func:`train` and :func:`optimise`).

    Parameters
    ----------
    epochs : int, default 100
        Most epochs.
    batch_size : int, default 64
        Datasets per mini-batch.
    lr : float, default 1e-3
        Adam's (initial) learning rate.
    patience : int, default 6
        Epochs without improvement of the validation loss before early stopping (the plateau
        schedule halves the rate after ``patience // 2``).
    refresh : int or None, optional
        When simulating on the fly, epochs between fresh training sets (``None``: one set).
    max_seconds : float or None, optional
        Time limit of the run (and the length of the cosine schedule).
    threads : int or None, optional
        torch's number of threads (``None``: unchanged).
    seed : int, default 0
        Seed of the initial weights' generator, shuffling and on-the-fly simulations.
    schedule : {"plateau", "cosine"}, default "plateau"
        Learning-rate schedule.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 6
    refresh: int | None = None
    max_seconds: float | None = None
    threads: int | None = None
    seed: int = 0
    schedule: str = "plateau"


SCHEDULES = ("plateau", "cosine")


@dataclass
class History:
    """What happened during a training run.

    Parameters
    ----------
    train : list of float, default []
        Mean training loss of each epoch.
    val : list of float, default []
        Validation loss of each epoch.
    best_epoch : int, default -1
        The epoch of the best validation loss (its weights are kept).
    seconds : float, default 0.0
        Wall-clock seconds of the run (over resumes).
    stopped : str, default ""
        Why the run ended (``"early stopping after epoch k"``, ``"time limit after epoch k"``,
        ``"epoch limit"`` or ``"interrupted"``).
    """
    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    stopped: str = ""

    def to_dict(self):
        """The history as plain data (stored in checkpoints and an estimator's metadata).

        Returns
        -------
        dict
            ``train``, ``val``, ``best_epoch``, ``seconds``, ``stopped``.
        """
        return {"train": self.train, "val": self.val, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "stopped": self.stopped}


def as_batch(estimator, samples: Sequence[Sample], spec: SimulationSpec):
    """Network inputs of ``samples`` and their parameters on the prior's unit scale.

    Parameters
    ----------
    estimator : AmortizedEstimator
        The network (its ``collate``).
    samples : sequence of Sample
        The datasets.
    spec : SimulationSpec
        Their specification (its prior maps the parameters to the unit scale).

    Returns
    -------
    inputs : GraphBatch, GridBatch or SpaceTimeBatch
        The batch.
    u : torch.Tensor, shape (B, p)
        The parameters on the unit scale (float32).
    """
    inputs = estimator.collate([(x.coords, x.values) if x.times is None
                                else (x.coords, x.values, x.times) for x in samples])
    u = torch.as_tensor(spec.prior.to_unit(np.stack([x.theta for x in samples])),
                        dtype=torch.float32)
    return inputs, u


def _batches(estimator, samples: Sequence[Sample], spec: SimulationSpec, idx, batch_size):
    for s in range(0, len(idx), batch_size):
        yield as_batch(estimator, [samples[int(i)] for i in idx[s:s + batch_size]], spec)


def evaluate_loss(estimator, samples, spec, batch_size: int = 256) -> float:
    """Mean loss over ``samples`` (no gradients; the estimator is put in evaluation mode).

    Parameters
    ----------
    estimator : AmortizedEstimator
        The network.
    samples : sequence of Sample
        The datasets.
    spec : SimulationSpec
        Their specification.
    batch_size : int, default 256
        Datasets per batch.

    Returns
    -------
    float
        The loss averaged over the datasets.
    """
    return _loss_over(estimator, _batches(estimator, samples, spec, np.arange(len(samples)),
                                          batch_size))


#: the ``format`` entry of a resumable training checkpoint
CHECKPOINT_FORMAT = "fieldfit-training-checkpoint-2"
#: the ways a run ends that a resume does not continue (an interrupted run is continued)
FINISHED = ("early stopping", "epoch limit", "time limit")


def save_state_atomic(state: dict, path: Path) -> None:
    """``torch.save`` to a temporary file and a rename (:func:`fieldfit.io.write_atomic`).

    Parameters
    ----------
    state : dict
        Plain data (tensors, numbers, strings, containers).
    path : pathlib.Path
        The file to write.
    """
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def read_checkpoint(path: str | Path) -> dict:
    """The resumable training checkpoint at ``path`` (:data:`CHECKPOINT_FORMAT`).

    Parameters
    ----------
    path : str or pathlib.Path
        The checkpoint file.

    Returns
    -------
    dict
        The checkpoint's state (module docstring).

    Raises
    ------
    ValueError
        If the file is missing, is another kind of file, or was written by an older fieldfit.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--resume: no training checkpoint {str(path)!r} to resume from "
                         "(it is written beside --out after each epoch)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (torch's message advises unsafe loading: not shown)
        raise ValueError(f"{str(path)!r} is not a fieldfit training checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a resumable fieldfit training checkpoint "
                         "(written by an older fieldfit, or another file): train afresh "
                         "without --resume")
    return state


def check_fingerprint(state: dict, fingerprint: dict | None, path: str | Path = "") -> None:
    """Refuse to resume from a checkpoint of a different run.

    Every entry of the new run's ``fingerprint`` (model, prior, design, network, seed,
    settings, …) must equal the checkpoint's.

    Parameters
    ----------
    state : dict
        The checkpoint (:func:`read_checkpoint`).
    fingerprint : dict or None
        The new run's fingerprint; ``None``: nothing is checked.
    path : str or pathlib.Path, default ""
        The checkpoint's path, for the message.

    Raises
    ------
    ValueError
        If an entry differs (naming up to four of those that do).
    """
    if fingerprint is None:
        return
    old = state.get("fingerprint") or {}
    new = _plain(fingerprint)
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differ:
        detail = "; ".join(f"{k}: {old.get(k)!r} in the checkpoint, {new.get(k)!r} now"
                           for k in differ[:4])
        raise ValueError(f"--resume: the checkpoint {str(path)!r} belongs to a run with other "
                         f"options ({detail}); resume with the options it was started with, or "
                         "train afresh without --resume")


def _plain(x):
    """JSON-like plain data (tuples as lists), as a checkpoint stores and compares it."""
    import json

    return json.loads(json.dumps(x, default=str))


def train(estimator, spec: SimulationSpec, train_samples: Sequence[Sample] | int,
          val_samples: Sequence[Sample] | int, settings: TrainingSettings | None = None,
          checkpoint: str | Path | None = None, progress: bool = True,
          resume: bool = False, fingerprint: dict | None = None,
          callback=None) -> History:
    """Train ``estimator`` in place on simulated datasets; returns the :class:`History`.

    Adam on the estimator's ``loss`` with mini-batches shuffled every epoch, early stopping on
    the validation loss, checkpoints and resume (:func:`optimise`). With a fixed training set
    each dataset's pilot likelihoods (if the network uses them) are computed once.

    Parameters
    ----------
    estimator : AmortizedEstimator
        The network to train.
    spec : SimulationSpec
        The specification of the samples (and of those simulated here).
    train_samples : sequence of Sample or int
        Training samples, or a number of samples to simulate in process (afresh every
        ``settings.refresh`` epochs: samples ``epoch // refresh * n`` onwards).
    val_samples : sequence of Sample or int
        Validation samples, or a number to simulate (the run's indices from :math:`10^9`,
        :func:`~fieldfit.neural.simulation.validation_indices`, never reached in training).
    settings : TrainingSettings or None, optional
        Optimisation settings (default ``TrainingSettings()``).
    checkpoint : str, pathlib.Path or None, optional
        See :func:`optimise`.
    progress : bool, default True
        Show a progress bar.
    resume : bool, default False
        See :func:`optimise`.
    fingerprint : dict or None, optional
        See :func:`optimise`.
    callback : callable or None, optional
        See :func:`optimise`.

    Returns
    -------
    History
        The run's history; the estimator holds the best weights, in evaluation mode.

    Raises
    ------
    ValueError
        If there is no training or no validation sample, or :func:`optimise` refuses the
        settings or the checkpoint.
    """
    st = settings or TrainingSettings()
    if st.threads:
        torch.set_num_threads(st.threads)
    torch.manual_seed(st.seed)
    rng = np.random.default_rng(st.seed)
    if isinstance(val_samples, int):
        val_samples = spec.simulate(validation_indices(val_samples), seed=st.seed)
    # a store-backed sequence is read once, in order (shuffled access would reread chunks)
    val_samples = list(val_samples)
    if not isinstance(train_samples, int):
        train_samples = list(train_samples)
    on_the_fly = isinstance(train_samples, int)
    n_train = train_samples if on_the_fly else len(train_samples)
    if n_train < 1 or len(val_samples) < 1:
        raise ValueError("training needs at least one training and one validation sample")
    refresh = st.refresh if st.refresh is not None else 10**9   # None: one simulated set
    current = {"samples": None}

    def epoch_batches(epoch):
        if on_the_fly and (current["samples"] is None or epoch % refresh == 0):
            first = (epoch // refresh) * n_train
            current["samples"] = spec.simulate(range(first, first + n_train), seed=st.seed)
        samples = current["samples"] if on_the_fly else train_samples
        return _batches(estimator, samples, spec, rng.permutation(n_train), st.batch_size)

    val = list(_batches(estimator, val_samples, spec, np.arange(len(val_samples)), 256))
    # a fixed training set: each dataset's pilot likelihoods (if the network uses them) once
    with pilot_cache() if refresh >= 10**9 or not on_the_fly else contextlib.nullcontext():
        return optimise(estimator, epoch_batches, val, st, checkpoint, progress,
                        resume=resume, fingerprint=fingerprint, numpy_rng=rng,
                        callback=callback)


def _loss_over(estimator, batches) -> float:
    total, count = 0.0, 0
    estimator.eval()
    with torch.no_grad():
        for inputs, u in batches:
            total += float(estimator.loss(inputs, u)) * len(u)
            count += len(u)
    return total / count


def optimise(estimator, epoch_batches, val_batches, settings: TrainingSettings,
             checkpoint: str | Path | None = None, progress: bool = True,
             epoch_size: int | None = None, resume: bool = False,
             fingerprint: dict | None = None, numpy_rng: np.random.Generator | None = None,
             callback=None) -> History:
    """The training loop shared by :func:`train` and :func:`fieldfit.neural.batched.train_batched`.

    Adam with gradient norms clipped at 10; ``settings.schedule`` ``"plateau"`` (halve the rate
    after ``patience // 2`` epochs without improvement) or ``"cosine"`` (from ``lr`` to
    ``lr / 50`` over ``max_seconds``, or over ``epochs``); early stopping after ``patience``
    epochs without improvement; the best weights kept and restored at the end (Ctrl-C included).

    Parameters
    ----------
    estimator : AmortizedEstimator
        The network to train, in place.
    epoch_batches : callable
        ``epoch_batches(epoch)`` yields the ``(inputs, u)`` of one epoch.
    val_batches : sequence of (inputs, u)
        Fixed validation batches.
    settings : TrainingSettings
        Optimisation settings.
    checkpoint : str, pathlib.Path or None, optional
        The file the run's whole state is written to (atomically) after every epoch (module
        docstring).
    progress : bool, default True
        Show a progress bar.
    epoch_size : int or None, optional
        Datasets per epoch, for the cosine schedule's progress within an epoch.
    resume : bool, default False
        Continue from ``checkpoint`` (:func:`read_checkpoint`, :func:`check_fingerprint`
        against ``fingerprint``).
    fingerprint : dict or None, optional
        Plain data describing the run, stored in the checkpoint.
    numpy_rng : numpy.random.Generator or None, optional
        The generator ``epoch_batches`` shuffles with, whose state the checkpoint holds.
    callback : callable or None, optional
        ``callback(epoch, history)``, called after each epoch's checkpoint (an exception it
        raises ends the run there, as a kill would).

    Returns
    -------
    History
        The run's history; the estimator holds the best weights, in evaluation mode.

    Raises
    ------
    ValueError
        If the schedule is unknown, ``resume`` is asked without a checkpoint, or the checkpoint
        is unusable or belongs to another run.
    """
    st = settings
    if st.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {st.schedule!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs the checkpoint file to resume from")
    opt = torch.optim.Adam(estimator.parameters(), lr=st.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5,
                                                       patience=max(1, st.patience // 2))
    hist, best, best_state = History(), math.inf, copy.deepcopy(estimator.state_dict())
    bad, first, elapsed = 0, 0, 0.0
    if resume:
        saved = read_checkpoint(checkpoint)
        check_fingerprint(saved, fingerprint, checkpoint)
        estimator.load_state_dict(saved["current"])
        opt.load_state_dict(saved["optimiser"])
        sched.load_state_dict(saved["scheduler"])
        best_state = saved["state"]
        hist = History(**saved["history"])
        best, bad, elapsed = float(saved["best"]), int(saved["bad"]), float(saved["seconds"])
        first = int(saved["last_epoch"]) + 1
        torch.set_rng_state(saved["torch_rng"])
        if numpy_rng is not None and saved.get("numpy_rng") is not None:
            numpy_rng.bit_generator.state = saved["numpy_rng"]
        if hist.stopped.startswith(FINISHED):        # a finished run: nothing left to do
            first = st.epochs
    start = time.perf_counter() - elapsed

    def cosine_lr(epoch_fraction):
        frac = ((time.perf_counter() - start) / st.max_seconds if st.max_seconds
                else epoch_fraction / st.epochs)
        return st.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))

    def save(epoch):
        save_state_atomic({
            "format": CHECKPOINT_FORMAT, "fingerprint": _plain(fingerprint or {}),
            "state": {k: v.detach().cpu() for k, v in best_state.items()},
            "current": {k: v.detach().cpu() for k, v in estimator.state_dict().items()},
            "optimiser": opt.state_dict(), "scheduler": sched.state_dict(),
            "epoch": hist.best_epoch, "last_epoch": epoch, "history": hist.to_dict(),
            "best": best, "bad": bad,
            "seconds": time.perf_counter() - start, "torch_rng": torch.get_rng_state(),
            "numpy_rng": None if numpy_rng is None else numpy_rng.bit_generator.state},
            Path(checkpoint))

    bar = tqdm(range(first, st.epochs), desc=f"training {estimator.kind}",
               disable=not progress, initial=first, total=st.epochs)
    try:
        for epoch in bar:
            estimator.train()
            total, count = 0.0, 0
            for inputs, u in epoch_batches(epoch):
                if st.schedule == "cosine":
                    frac = epoch + (count / epoch_size if epoch_size else 0.0)
                    for g in opt.param_groups:
                        g["lr"] = cosine_lr(frac)
                opt.zero_grad()
                loss = estimator.loss(inputs, u)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(estimator.parameters(), 10.0)
                opt.step()
                total += float(loss.detach()) * len(u)
                count += len(u)
            hist.train.append(total / max(count, 1))
            hist.val.append(_loss_over(estimator, val_batches))
            if st.schedule == "plateau":
                sched.step(hist.val[-1])
            if hist.val[-1] < best:
                best, bad, hist.best_epoch = hist.val[-1], 0, epoch
                best_state = copy.deepcopy(estimator.state_dict())
            else:
                bad += 1
            bar.set_postfix(train=f"{hist.train[-1]:.4f}", val=f"{hist.val[-1]:.4f}",
                            best=f"{best:.4f}")
            if bad >= st.patience:
                hist.stopped = f"early stopping after epoch {epoch}"
            elif st.max_seconds is not None and time.perf_counter() - start > st.max_seconds:
                hist.stopped = f"time limit after epoch {epoch}"
            elif epoch == st.epochs - 1:
                hist.stopped = "epoch limit"
            if checkpoint is not None:
                save(epoch)
            if callback is not None:
                callback(epoch, hist)
            if hist.stopped:
                break
        else:
            hist.stopped = hist.stopped or "epoch limit"
    except KeyboardInterrupt:
        hist.stopped = "interrupted"
    finally:
        bar.close()
        estimator.load_state_dict(best_state)
        estimator.eval()
        hist.seconds = time.perf_counter() - start
    return hist
