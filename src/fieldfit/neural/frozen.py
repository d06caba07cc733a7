"""Training ψ and the head of a graph-network estimator on frozen graph convolutions.

A :class:`~fieldfit.neural.summaries.GNNSummary` is φ (graph convolutions, averaged over each
replicate's nodes) followed by ψ (an MLP of the replicate mean of φ and the expert summaries).
Once φ has been trained, new or better expert summaries (pilot likelihoods, variograms) and a
wider ψ are trained on φ's features computed once per dataset: an epoch then costs a
multiplication of small matrices instead of a pass of the graph network, so many more epochs
fit in the same time (measured for ``matern-irregular`` in docs/benchmarks.md). The estimator
is the same network as before, φ unchanged; :func:`train_frozen_graph` returns it trained,
with :func:`fieldfit.neural.training.optimise`'s early stopping, schedule and checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .graphs import PooledBatch
from .simulation import Sample, SimulationSpec
from .training import History, TrainingSettings, optimise

#: the parameters that stay as they are: the graph convolutions and their distance weights
FROZEN = ("summary.convs.", "summary.distance_weights.")


def _check(estimator) -> None:
    if not hasattr(estimator.summary, "per_replicate"):
        raise ValueError("frozen-graph training needs a graph network (GNNSummary); "
                         f"got {type(estimator.summary).__name__}")


@torch.no_grad()
def pooled_inputs(estimator, samples: Sequence[Sample], spec: SimulationSpec,
                  batch_size: int = 64, progress: bool = True) -> tuple[PooledBatch, torch.Tensor]:
    """φ's replicate means and the expert summaries of every sample, with their parameters.

    Parameters
    ----------
    estimator : AmortizedEstimator
        An estimator whose summary is a :class:`~fieldfit.neural.summaries.GNNSummary` (put in
        evaluation mode).
    samples : sequence of Sample
        The simulated datasets.
    spec : SimulationSpec
        Their specification (its prior maps the parameters to the unit scale).
    batch_size : int, default 64
        Datasets per pass of the graph network.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    pooled : PooledBatch
        ``phi (B, width)``, ``expert (B, 4)`` and the variogram and pilot summaries the network
        uses.
    u : torch.Tensor, shape (B, p)
        The parameters on the prior's unit scale (float32).

    Raises
    ------
    ValueError
        If the summary network is not a graph network.
    """
    _check(estimator)
    summary = estimator.summary
    summary.eval()
    parts: list[PooledBatch] = []
    for s in tqdm(range(0, len(samples), batch_size), desc="graph features",
                  disable=not progress):
        chunk = [samples[i] for i in range(s, min(s + batch_size, len(samples)))]
        batch = estimator.collate([(x.coords, x.values) for x in chunk])
        per_graph = summary.per_replicate(batch)
        phi = torch.zeros(batch.n_datasets, per_graph.shape[1]).index_add_(
            0, batch.dataset, per_graph)
        phi /= torch.bincount(batch.dataset, minlength=batch.n_datasets)[:, None]
        parts.append(PooledBatch(phi, batch.expert, batch.variogram, batch.pilot))
    pooled = PooledBatch.concat(parts)
    theta = np.stack([samples[i].theta for i in range(len(samples))])
    return pooled, torch.as_tensor(spec.prior.to_unit(theta), dtype=torch.float32)


def train_frozen_graph(estimator, spec: SimulationSpec, train_set, val_set,
                       settings: TrainingSettings | None = None,
                       checkpoint: str | Path | None = None,
                       progress: bool = True) -> History:
    """Train everything of ``estimator`` but its graph convolutions (:data:`FROZEN`), in place.

    φ's features are computed once per dataset (:func:`pooled_inputs`); ψ and the head are then
    trained on them with :func:`fieldfit.neural.training.optimise`. φ's parameters are exactly as
    before afterwards (their ``requires_grad`` flags are restored too).

    Parameters
    ----------
    estimator : AmortizedEstimator
        An estimator with a :class:`~fieldfit.neural.summaries.GNNSummary`.
    spec : SimulationSpec
        The specification of the samples.
    train_set : sequence of Sample or tuple
        Training samples, or their :func:`pooled_inputs` (computed once, e.g. cached on disk by a
        long run).
    val_set : sequence of Sample or tuple
        Validation samples, or their :func:`pooled_inputs`.
    settings : TrainingSettings or None, optional
        Optimisation settings (default ``TrainingSettings()``); ``threads`` and ``seed`` are
        applied.
    checkpoint : str, pathlib.Path or None, optional
        File the run's state is written to after every epoch.
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    History
        The training history.

    Raises
    ------
    ValueError
        If the summary network is not a graph network, or a set is empty.
    """
    _check(estimator)
    st = settings or TrainingSettings()
    if st.threads:
        torch.set_num_threads(st.threads)
    torch.manual_seed(st.seed)
    rng = np.random.default_rng(st.seed)
    train_set, val_set = (s if isinstance(s, tuple) else pooled_inputs(estimator, s, spec,
                                                                        progress=progress)
                          for s in (train_set, val_set))
    (pooled, u), (val_pooled, val_u) = train_set, val_set
    if len(u) < 1 or len(val_u) < 1:
        raise ValueError("training needs at least one training and one validation sample")
    val = [(val_pooled.select(slice(s, s + 1024)), val_u[s:s + 1024])
           for s in range(0, len(val_u), 1024)]

    def epoch_batches(epoch):
        order = torch.as_tensor(rng.permutation(len(u)))
        for s in range(0, len(u), st.batch_size):
            idx = order[s:s + st.batch_size]
            yield pooled.select(idx), u[idx]

    frozen = [p for k, p in estimator.named_parameters() if k.startswith(FROZEN)]
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        return optimise(estimator, epoch_batches, val, st, checkpoint, progress, len(u))
    finally:
        for p, f in zip(frozen, flags, strict=True):
            p.requires_grad_(f)
