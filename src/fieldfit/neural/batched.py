r"""Simulation and graph batches on an accelerator: training on fresh data at GPU speed.

A batch of B datasets, dataset b with parameters θ_b and locations X_b ``(n_b, 2)``, is drawn at
once (Gaussian field, stationary isotropic covariance, constant mean, nugget):

.. math::

    Z_b = \mu_b 1 + L_b \varepsilon_b, \qquad
    L_b L_b^\top = \sigma_b^2 \rho(\lVert x_i - x_j \rVert / \ell_b) + \tau_b^2 I, \qquad
    \varepsilon_b \sim N(0, I)

padded to the group's largest n (an identity block on the padding), with one batched float64
Cholesky (``torch.linalg.cholesky``) on the device; datasets are grouped by n first, so that
little is padded. The covariance is the model's own (``spec.model_.covariance``) evaluated on
the whole group at once, with the parameters broadcast over the datasets
(:func:`covariance_function`, which also says which covariances this covers). Parameters,
locations and numbers of replicates are those of :meth:`SimulationSpec.draw_setting` (the same
generator per ``(seed, index)``, drawn on CPU workers); the field's noise comes from a torch
generator on the device, so a batched run equals the in-process one in distribution, not draw
for draw.

Graphs are built on the device too: k nearest neighbours (within ``radius``) by ``torch.cdist``
and ``topk``, giving the edges of :func:`fieldfit.neural.graphs.spatial_graph` (ties aside) in
the same order, with the node order, standardised values, distances and expert summaries of
:func:`fieldfit.neural.graphs.collate_graphs` (tested). Nothing here replaces the in-process or
Dask simulations: those give every model (SPDE, general smoothness, any ``simulate``); this
path gives the Gaussian fields whose correlation torch evaluates on a GPU, fast enough that a
training run never shows a network the same dataset twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..covariance.base import distance
from .graphs import FLOAT, GRAPH_EXPERT, GraphBatch
from .simulation import ModelSpec, SimulationSpec, validation_indices


def _matern_one(r: torch.Tensor) -> torch.Tensor:
    """The Matérn correlation of smoothness 1, r K₁(r) (1 at r = 0), by torch's K₁."""
    pos = r > 0
    rs = torch.where(pos, r, torch.ones_like(r))
    return torch.where(pos, rs * torch.special.modified_bessel_k1(rs), torch.ones_like(r))


def covariance_function(spec: SimulationSpec):
    r"""The covariance of ``spec``'s model for batches of datasets, as a function on any device.

    It is the model's own covariance, ``spec.model_.covariance(coords, coords, params)``, for the
    covariances whose correlation is a torch function: exponential, Gaussian, Matérn with the
    smoothness fixed at 1/2, 3/2 or 5/2 (closed forms). At smoothness 1 the model evaluates
    :math:`r K_1(r)` on the host (scipy's :math:`K_\nu`, or a compiled table of it for large
    matrices); here torch's :math:`K_1` gives the same function on the device, with the model's
    scaled distances and variance (tested against the model's).

    Parameters
    ----------
    spec : SimulationSpec
        Its model must be a :class:`~fieldfit.models.GaussianField` with a constant mean, given
        by a :class:`~fieldfit.neural.simulation.ModelSpec`.

    Returns
    -------
    callable
        ``f(coords, params) -> (B, n, n)`` with ``coords (B, n, D)`` and ``params`` mapping each
        covariance parameter to a tensor ``(B, 1, 1)`` (one value per dataset) or ``()``
        (shared); the nugget is not included.

    Raises
    ------
    ValueError
        If the model or its covariance is not one of those covered (naming the limitation).
    """
    from ..covariance.matern import CLOSED_FORMS, Exponential, Gaussian, Matern
    from ..models import GaussianField

    model = spec.model_ if isinstance(spec.model, ModelSpec) else None
    if not isinstance(model, GaussianField) or model.mean.kind != "constant":
        raise ValueError("batched simulation covers Gaussian fields with a constant mean given "
                         f"by a ModelSpec (GaussianField), not {spec.model!r}: use the "
                         "in-process or Dask simulation")
    cov = model.covariance
    if isinstance(cov, Matern):
        nu = cov.smoothness
        if nu == 1.0:
            return lambda x, p: p["variance"] * _matern_one(cov.scaled_distance(x, x, p))
        if nu is None or float(nu) not in CLOSED_FORMS:
            raise ValueError(
                "batched simulation needs the Matérn smoothness fixed at 0.5, 1, 1.5 or 2.5, "
                f"got {'a prior on it' if nu is None else nu}: at other values the model "
                "evaluates the correlation with scipy's K_ν and a compiled table on the host "
                "CPU (torch has no K_ν of real order), which cannot run on a device; use the "
                "in-process or Dask simulation")
    elif not isinstance(cov, (Exponential, Gaussian)):
        raise ValueError(f"batched simulation does not cover {cov!r}")
    return lambda x, p: cov(x, x, p)


def _cholesky(c: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Batched :func:`fieldfit.likelihood.exact.cholesky`: jitter ``settings.jitter`` × the
    dataset's mean variance on the diagonal, raised tenfold for the datasets that fail."""
    from ..settings import current

    cfg = current()
    scale = (c.diagonal(dim1=1, dim2=2) * mask).sum(1) / mask.sum(1)
    jitter = torch.full_like(scale, cfg.jitter)
    eye = torch.eye(c.shape[1], dtype=c.dtype, device=c.device)
    for _ in range(cfg.max_jitter_tries + 1):
        chol, info = torch.linalg.cholesky_ex(c + (jitter * scale)[:, None, None] * eye)
        bad = info != 0
        if not bool(bad.any()):
            return chol
        jitter = torch.where(bad, 10.0 * jitter, jitter)
    raise ValueError("a simulated covariance matrix is not positive definite even with "
                     f"jitter {float(jitter.max()) / 10:.1e} x its mean variance")


@dataclass
class Padded:
    """Datasets padded to a common size.

    Parameters
    ----------
    coords : torch.Tensor, shape (B, n_max, 2)
        Locations (float64), zeros on the padding.
    values : torch.Tensor, shape (B, r_max, n_max)
        Values (float64), zeros on the padding.
    n : torch.Tensor, shape (B,)
        Number of locations of each dataset (long).
    r : torch.Tensor, shape (B,)
        Number of replicates of each dataset (long).
    theta : torch.Tensor, shape (B, p)
        Parameters, natural values (float64).
    """

    coords: torch.Tensor
    values: torch.Tensor
    n: torch.Tensor
    r: torch.Tensor
    theta: torch.Tensor

    def __len__(self) -> int:
        return len(self.n)

    def node_mask(self) -> torch.Tensor:
        """Which locations are real, not padding.

        Returns
        -------
        torch.Tensor, shape (B, n_max)
            Boolean, ``True`` for the first ``n[b]`` locations of dataset ``b``.
        """
        return torch.arange(self.coords.shape[1], device=self.n.device)[None] < self.n[:, None]

    def rep_mask(self) -> torch.Tensor:
        """Which replicates are real, not padding.

        Returns
        -------
        torch.Tensor, shape (B, r_max)
            Boolean, ``True`` for the first ``r[b]`` replicates of dataset ``b``.
        """
        return torch.arange(self.values.shape[1], device=self.r.device)[None] < self.r[:, None]

    def select(self, idx: torch.Tensor) -> Padded:
        """Datasets ``idx``, trimmed to their own largest n and r.

        Parameters
        ----------
        idx : torch.Tensor, shape (B',)
            Indices of the datasets kept (non-empty).

        Returns
        -------
        Padded
            The selected datasets (views of this batch's tensors where torch allows).
        """
        n, r = self.n[idx], self.r[idx]
        nm, rm = int(n.max()), int(r.max())
        return Padded(self.coords[idx, :nm], self.values[idx, :rm, :nm], n, r, self.theta[idx])

    def items(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The datasets as numpy arrays, for the CPU collate.

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray)
            ``(coords (n, 2), values (r, n))`` per dataset, padding removed.
        """
        out = []
        for b in range(len(self)):
            n, r = int(self.n[b]), int(self.r[b])
            out.append((self.coords[b, :n].cpu().numpy(),
                        self.values[b, :r, :n].cpu().numpy()))
        return out


def pad(settings: Sequence[tuple[np.ndarray, np.ndarray, int]], device) -> Padded:
    """Pad dataset settings to one :class:`Padded` batch with zero values.

    Parameters
    ----------
    settings : sequence of (theta, coords, r)
        Per dataset: parameters ``(p,)``, locations ``(n, 2)`` and number of replicates (as
        from :meth:`SimulationSpec.draw_setting`).
    device : str or torch.device
        Where the tensors are put.

    Returns
    -------
    Padded
        Coordinates and parameters filled in, values zero (for :meth:`BatchedSimulator.simulate`).
    """
    ns = [len(c) for _, c, _ in settings]
    rs = [int(r) for _, _, r in settings]
    coords = np.zeros((len(settings), max(ns), 2))
    for b, (_, c, _) in enumerate(settings):
        coords[b, :len(c)] = c
    dev = torch.device(device)
    return Padded(torch.as_tensor(coords, device=dev),
                  torch.zeros(len(settings), max(rs), max(ns), dtype=torch.float64, device=dev),
                  torch.as_tensor(ns, device=dev), torch.as_tensor(rs, device=dev),
                  torch.as_tensor(np.stack([t for t, _, _ in settings]), device=dev))


class BatchedSimulator:
    """Draws the fields of :class:`Padded` datasets on their device (see the module's formula).

    Datasets are grouped by n; each group's covariance matrices are factorised with one batched
    Cholesky (jitter raised tenfold for the matrices that fail, as
    :func:`fieldfit.likelihood.exact.cholesky`).

    Parameters
    ----------
    spec : SimulationSpec
        What to simulate (a model :func:`covariance_function` covers).
    group : int, default 256
        Datasets per batched Cholesky (memory ``group * n_max**2`` doubles).

    Raises
    ------
    ValueError
        If the model is not covered, or a covariance parameter or the mean is neither drawn by
        the prior nor fixed.
    """

    def __init__(self, spec: SimulationSpec, group: int = 256):
        self.spec, self.group = spec, int(group)
        self.cov = covariance_function(spec)
        names = spec.prior.names
        space = spec.model_.covariance.params()
        self._cov_names = space.names
        self._cols = {k: names.index(k) if k in names else None
                      for k in (*self._cov_names, "nugget", "mean")}
        self._fixed = {**space.fixed_values, **spec.prior.fixed}    # the model's, the prior's
        missing = [k for k in (*self._cov_names, "mean")
                   if self._cols[k] is None and k not in self._fixed]
        if missing:
            raise ValueError(f"batched simulation needs the parameters {missing}")

    def _param(self, theta: torch.Tensor, name: str) -> torch.Tensor:
        j = self._cols[name]
        if j is not None:
            return theta[:, j]
        return torch.full((len(theta),), float(self._fixed.get(name, 0.0)),
                          dtype=theta.dtype, device=theta.device)

    def _cov_params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """The covariance parameters of the datasets ``theta (B, p)``: ``(B, 1, 1)`` on the
        device where the prior draws them; where it fixes them, ``()`` on the CPU, as the
        model's own parameters (torch combines such scalars with tensors on any device, and
        the covariance may read them as numbers, e.g. the Matérn smoothness, without waiting
        for the device)."""
        return {k: (theta[:, j, None, None] if j is not None else
                    torch.tensor(float(self._fixed[k]), dtype=theta.dtype))
                for k in self._cov_names for j in (self._cols[k],)}

    @torch.no_grad()
    def covariance(self, batch: Padded) -> torch.Tensor:
        """The covariance of each dataset's observations, the identity on its padding.

        The model's covariance (:func:`covariance_function`) plus the nugget on the diagonal.

        Parameters
        ----------
        batch : Padded
            The datasets.

        Returns
        -------
        torch.Tensor, shape (B, n_max, n_max)
            One covariance matrix per dataset.
        """
        mask = batch.node_mask()
        both = mask[:, :, None] & mask[:, None, :]
        tau2 = self._param(batch.theta, "nugget")
        c = self.cov(batch.coords, self._cov_params(batch.theta))
        eye = torch.eye(c.shape[1], dtype=c.dtype, device=c.device)
        return torch.where(both, c + tau2[:, None, None] * eye, eye)

    @torch.no_grad()
    def simulate(self, batch: Padded, generator: torch.Generator | None = None) -> Padded:
        """Fill ``batch.values`` with simulated fields (in place; returned).

        Parameters
        ----------
        batch : Padded
            The datasets (their parameters and locations).
        generator : torch.Generator or None, optional
            Source of the noise, on the batch's device; ``None``: torch's default generator.

        Returns
        -------
        Padded
            ``batch``, its values set (zero on the padding).

        Raises
        ------
        ValueError
            If a covariance matrix is not positive definite even with the largest jitter.
        """
        order = torch.argsort(batch.n)
        for s in range(0, len(batch), self.group):
            idx = order[s:s + self.group]
            sub = batch.select(idx)
            nm = sub.coords.shape[1]
            chol = _cholesky(self.covariance(sub), sub.node_mask())
            eps = torch.randn(len(idx), nm, sub.values.shape[1], dtype=chol.dtype,
                              device=chol.device, generator=generator)
            z = (chol @ eps).transpose(1, 2) + self._param(sub.theta, "mean")[:, None, None]
            z = z * (sub.node_mask()[:, None, :] & sub.rep_mask()[:, :, None])
            batch.values[idx, :z.shape[1], :nm] = z
        return batch


def _variogram(d: torch.Tensor, z: torch.Tensor, mask: torch.Tensor, rmask: torch.Tensor,
               edges: Sequence[float]) -> torch.Tensor:
    """:func:`fieldfit.neural.graphs.variogram_summary` of every dataset, ``(B, 2 · n_bins)``,
    from the distances ``d (B, n, n)`` and standardised values ``z (B, r, n)``."""
    B, nm = d.shape[:2]
    e = torch.as_tensor(edges, dtype=d.dtype, device=d.device)
    nb = len(e) - 1
    sq = torch.zeros_like(d)
    for j in range(z.shape[1]):
        zj = z[:, j] * rmask[:, j, None]
        sq += (zj[:, :, None] - zj[:, None, :]) ** 2
    upper = torch.ones(nm, nm, dtype=torch.bool, device=d.device).triu(1)
    pair = mask[:, :, None] & mask[:, None, :] & upper
    b = torch.bucketize(d, e, right=True) - 1
    b = torch.where(pair & (b >= 0) & (b < nb), b, nb)
    flat = (b + (nb + 1) * torch.arange(B, device=d.device)[:, None, None]).reshape(-1)
    sums = torch.zeros(B * (nb + 1), dtype=d.dtype, device=d.device).index_add_(
        0, flat, sq.reshape(-1)).view(B, nb + 1)[:, :nb]
    counts = torch.bincount(flat, minlength=B * (nb + 1)).view(B, nb + 1)[:, :nb].to(d.dtype)
    r = rmask.sum(1).to(d.dtype)
    n = mask.sum(1).to(d.dtype)
    gamma = torch.where(counts > 0, sums / (2.0 * r[:, None] * counts.clamp_min(1)),
                        torch.ones_like(sums))
    return torch.cat([gamma, counts / (n * (n - 1) / 2)[:, None]], 1)


@torch.no_grad()
def graph_batch(batch: Padded, k: int = 10, radius: float | None = None,
                variogram: Sequence[float] | None = None) -> GraphBatch:
    """The :class:`~fieldfit.neural.graphs.GraphBatch` of ``batch``, built on its device.

    It holds what :func:`fieldfit.neural.graphs.collate_graphs` builds from the same data on CPU
    (standardised values, k-nearest-neighbour edges in the same order, ties aside, distances and
    expert summaries).

    Parameters
    ----------
    batch : Padded
        The datasets, with values.
    k : int, default 10
        Neighbours per node.
    radius : float or None, default None
        Largest edge length; ``None``: no limit.
    variogram : sequence of float or None, default None
        Lag-bin edges of the variogram summaries (``None``: none).

    Returns
    -------
    fieldfit.neural.graphs.GraphBatch
        The batch, in float32 (no pilot summaries).

    Raises
    ------
    ValueError
        If a dataset has fewer than 2 locations or all its values are equal.
    """
    dev = batch.coords.device
    n, r = batch.n, batch.r
    B, nm = batch.coords.shape[:2]
    if int(n.min()) < 2:
        raise ValueError("a spatial graph needs at least 2 locations")
    mask = batch.node_mask()
    rmask = batch.rep_mask()
    # standardisation over all values of a dataset (population sd, as np.std)
    full = (rmask[:, :, None] & mask[:, None, :]).to(batch.values.dtype)
    count = (n * r).to(batch.values.dtype)
    mean = (batch.values * full).sum((1, 2)) / count
    sd = torch.sqrt((((batch.values - mean[:, None, None]) * full) ** 2).sum((1, 2)) / count)
    if not bool((sd > 0).all()):
        raise ValueError("a dataset's values are all equal: nothing to estimate a covariance "
                         "from")
    z = (batch.values - mean[:, None, None]) / sd[:, None, None]
    # k nearest neighbours within each dataset (distances from the differences, as the
    # covariances': the Gram trick's rounding at small distances is ~1e-8)
    d = distance(batch.coords, batch.coords)
    vario = (None if variogram is None else
             _variogram(d, z, mask, rmask, variogram).to(FLOAT))
    bad = ~(mask[:, :, None] & mask[:, None, :]) | torch.eye(nm, dtype=torch.bool, device=dev)
    d = d.masked_fill(bad, math.inf)
    kk = min(k, nm - 1)
    dist, idx = torch.topk(d, kk, dim=2, largest=False, sorted=True)       # (B, nm, kk)
    valid = torch.isfinite(dist) & mask[:, :, None]
    if radius is not None:
        valid &= dist < radius
    b_e, i_e, s_e = torch.nonzero(valid, as_tuple=True)                  # b-major, i, slot
    src_l, tgt_l, dist_l = idx[b_e, i_e, s_e], i_e, dist[b_e, i_e, s_e]
    e_count = torch.bincount(b_e, minlength=B)
    e_start = torch.cumsum(e_count, 0) - e_count
    # one graph per replicate: dataset-major, replicate order, as collate_graphs
    g_data = torch.repeat_interleave(torch.arange(B, device=dev), r)
    g_nodes = n[g_data]
    g_offset = torch.cumsum(g_nodes, 0) - g_nodes
    g_edges = e_count[g_data]
    e_graph = torch.repeat_interleave(torch.arange(len(g_data), device=dev), g_edges)
    pos = torch.arange(len(e_graph), device=dev) - (torch.cumsum(g_edges, 0) - g_edges)[e_graph]
    base = e_start[g_data][e_graph] + pos
    off = g_offset[e_graph]
    edge_index = torch.stack([src_l[base] + off, tgt_l[base] + off])
    g_rep = torch.arange(len(g_data), device=dev) - (torch.cumsum(r, 0) - r)[g_data]
    node_ok = mask[g_data]                                                  # (G, nm)
    x = z[g_data, g_rep][node_ok]
    graph = torch.repeat_interleave(torch.arange(len(g_data), device=dev), g_nodes)
    expert = GRAPH_EXPERT.stack(mean=mean, log_sd=torch.log(sd),
                                log_n=torch.log(n.to(mean.dtype)),
                                log_r=torch.log(r.to(mean.dtype)))
    return GraphBatch(x=x.to(FLOAT)[:, None], edge_index=edge_index,
                      edge_attr=dist_l[base].to(FLOAT)[:, None], graph=graph, dataset=g_data,
                      expert=expert.to(FLOAT), variogram=vario)


def _as_is(x):
    return x


class SettingChunks(torch.utils.data.IterableDataset):
    """Endless chunks of dataset settings ``(theta, coords, r)``, for a DataLoader.

    Chunk ``c`` holds samples ``c * size … (c + 1) * size - 1`` of the run with ``seed``
    (:meth:`SimulationSpec.draw_setting`); chunks ``first, first + 1, …`` are dealt round-robin
    to the DataLoader's workers.

    Parameters
    ----------
    spec : SimulationSpec
        What to draw.
    seed : int
        The run's seed.
    size : int
        Samples per chunk.
    first : int, default 0
        The first chunk.
    """

    def __init__(self, spec: SimulationSpec, seed: int, size: int, first: int = 0):
        super().__init__()
        self.spec, self.seed, self.size, self.first = spec, int(seed), int(size), int(first)

    def chunk(self, c: int) -> list:
        """The settings of chunk ``c``.

        Parameters
        ----------
        c : int
            Chunk number.

        Returns
        -------
        list of (theta, coords, r)
            ``size`` settings, samples ``c * size`` onwards.
        """
        lo = c * self.size
        return [self.spec.draw_setting(self.seed, i)[:3] for i in range(lo, lo + self.size)]

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        w, workers = (0, 1) if info is None else (info.id, info.num_workers)
        c = self.first + w
        while True:
            yield self.chunk(c)
            c += workers


def _unit(spec: SimulationSpec, theta: torch.Tensor) -> torch.Tensor:
    u = spec.prior.to_unit(theta.cpu().numpy())
    return torch.as_tensor(u, dtype=torch.float32, device=theta.device)


def train_batched(estimator, spec: SimulationSpec, settings=None, device: str = "cuda",
                  epoch_size: int = 65536, n_val: int = 4096, chunk: int = 4096,
                  workers: int = 4, group: int = 256, checkpoint=None, progress: bool = True):
    """Train a graph-network ``estimator`` on datasets simulated afresh on ``device``.

    No dataset is seen twice. Locations and parameters are drawn by ``workers`` DataLoader
    processes (:class:`SettingChunks`), fields and graphs on the device; one epoch is
    ``epoch_size`` datasets, the validation set ``n_val`` datasets at indices from
    :math:`10^9` (as :func:`fieldfit.neural.recipes.simulated_sets`). The loop, schedule, early
    stopping and checkpoints are :func:`fieldfit.neural.training.optimise`'s.

    Parameters
    ----------
    estimator : torch.nn.Module
        A network with a :class:`~fieldfit.neural.summaries.GNNSummary` summary without pilot
        likelihoods; trained in place.
    spec : SimulationSpec
        What to simulate (a model :func:`covariance_function` covers).
    settings : fieldfit.neural.training.TrainingSettings or None, optional
        Optimisation settings; default ``TrainingSettings()``.
    device : str, default "cuda"
        Where fields, graphs and the network live during training.
    epoch_size : int, default 65536
        Datasets per epoch.
    n_val : int, default 4096
        Validation datasets.
    chunk : int, default 4096
        Settings drawn per worker chunk.
    workers : int, default 4
        DataLoader worker processes (0: in process).
    group : int, default 256
        Datasets per batched Cholesky.
    checkpoint : str, pathlib.Path or None, optional
        File the run's state is written to after every epoch.
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    fieldfit.neural.training.History
        The training history; the estimator is left on the CPU.

    Raises
    ------
    ValueError
        If the summary network is not a graph network, uses pilot likelihoods, the CUDA device
        is missing, or the model is not covered.
    """
    from .training import TrainingSettings, optimise

    st = settings or TrainingSettings()
    summary = estimator.summary
    if getattr(summary, "gridded", True) or not hasattr(summary, "k"):
        raise ValueError("batched training builds spatial graphs: it needs a GNNSummary")
    if getattr(summary, "pilot", None) is not None:
        raise ValueError("pilot likelihoods (GNNSummary(pilot=...)) are computed on the CPU, "
                         "per dataset; batched training on a device does not build them: "
                         "train this network with fieldfit.neural.train")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: torch finds no CUDA device here "
                         f"(torch {torch.__version__}); train on the CPU (device 'cpu')")
    torch.manual_seed(st.seed)
    estimator.to(dev)
    sim = BatchedSimulator(spec, group)
    k, radius, vario = summary.k, summary.radius, summary.variogram

    def batches_of(padded, idx_order, size):
        for s in range(0, len(idx_order), size):
            sub = padded.select(idx_order[s:s + size])
            yield graph_batch(sub, k, radius, vario), _unit(spec, sub.theta)

    gen_val = torch.Generator(dev).manual_seed(st.seed + 1)
    val_set = [spec.draw_setting(st.seed, i)[:3] for i in validation_indices(n_val)]
    val_padded = sim.simulate(pad(val_set, dev), gen_val)
    val = list(batches_of(val_padded, torch.arange(n_val, device=dev), 256))

    loader = torch.utils.data.DataLoader(SettingChunks(spec, st.seed, chunk), batch_size=None,
                                         num_workers=workers, collate_fn=_as_is,
                                         prefetch_factor=4 if workers else None,
                                         persistent_workers=bool(workers))
    stream = iter(loader)
    gen = torch.Generator(dev).manual_seed(st.seed)
    shuffle = torch.Generator(dev).manual_seed(st.seed + 2)

    def epoch_batches(epoch):
        done = 0
        while done < epoch_size:
            padded = sim.simulate(pad(next(stream), dev), gen)
            order = torch.randperm(len(padded), generator=shuffle, device=dev)
            for inputs, u in batches_of(padded, order, st.batch_size):
                yield inputs, u
                done += len(u)
                if done >= epoch_size:
                    return

    try:
        hist = optimise(estimator, epoch_batches, val, st, checkpoint, progress, epoch_size)
    finally:
        estimator.cpu()
    return hist
