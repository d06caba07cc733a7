"""The Vecchia approximation of a Gaussian likelihood, O(n m³).

Vecchia (1988); Katzfuss & Guinness (2021); GpGp (Guinness 2018). With the points in an
order (maxmin by default, :mod:`fieldfit.likelihood.ordering`) and N(i) the m nearest
earlier points ("response" Vecchia: the observations y themselves, nugget included)::

    log p(y) ≈ Σ_i log p(y_i | y_N(i)) = Σ_i [ −½ w_i² − log L_i − ½ log 2π ],

where for the block c = (N(i), i), Σ_cc = L Lᵀ (Cholesky) and w_i = (L⁻¹ y_c)_last,
L_i = L_last,last. The first m + 1 points form one exact dense block. Stacking the whitened
rows of the data and of the design X, the mean coefficients are profiled out by GLS exactly as
in the dense case: β̂ = (W_xᵀW_x)⁻¹ W_xᵀ w_y. With m = n − 1 the approximation is exact.

The blocks are gathered in batches ``(B, m+1, m+1)``, factorised by batched Cholesky, and
differentiated by autograd in every covariance parameter (ν included). Each batch returns only
the cross-products of its whitened rows, so the log-likelihood is a function of sums of small
matrices; batches are recomputed in the backward pass (activation checkpointing), which keeps
the memory at one batch whatever n.

Prediction (Katzfuss et al. 2020, "Vecchia approximations of Gaussian-process predictions"):
each target is kriged from its ``pred_neighbours`` nearest observations. The joint predictive
distribution (``full_cov``, conditional simulation) orders the targets after the data (maxmin
among themselves) and conditions each on its nearest observed and earlier predicted points::

    z_j = Σ_k b_jk v_k + √d_j ε_j     ⇒    z = (I − B_new)⁻¹ (B_obs r + D^½ ε),

a sparse triangular system (scipy) for any number of targets.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch
from scipy.spatial import cKDTree
from torch.utils.checkpoint import checkpoint
from tqdm.auto import tqdm

from ..errors import NotPositiveDefinite as MatrixNotPositiveDefinite
from ..settings import current
from .base import CovarianceEngine, GaussianSpec, Prediction, physical_memory
from .ordering import (
    ORDERINGS,
    group_neighbours,
    maxmin_order,
    order_points,
    previous_neighbours,
)
from .vecchia_blocks import BlockRows, NotPositiveDefinite, tril

_LOG2PI = math.log(2.0 * math.pi)
#: (B, k, k) float64 arrays an autograd graph holds per batch (Σ, L, the kernel's pairs)
_GRAPH_COPIES = 4


@dataclass
class _Structure:
    """Ordering and conditioning sets of one point set (cached by the engine)."""

    perm: np.ndarray  # (n,) the ordering: ordered point k is points[perm[k]]
    head: int  # the first `head` ordered points form one dense block
    blocks: torch.Tensor  # (n − head, m + 1) indices into the ORIGINAL points; last = the point
    dist: list | None = None  # the blocks' lower-triangle distances, per batch (if cached)
    groups: list | None = None  # grouped: per batch (block indices (B, K), −1 pad; responses)


def _key(points: torch.Tensor, *extra) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    a = points.detach().contiguous().numpy()
    h.update(str((a.shape, *extra)).encode())
    h.update(a.tobytes())
    return h.digest()


def _block_cov(spec: GaussianSpec, P: torch.Tensor, jitter) -> torch.Tensor:
    """Σ of the blocks ``P (B, k, D)``: kernel + (τ² + jitter) I, ``(B, k, k)``."""
    S = spec.kernel(P, P)
    return S + (spec.nugget + jitter) * torch.eye(P.shape[-2], dtype=S.dtype)


def _chol(S: torch.Tensor) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(S)
    if bool((info != 0).any()):
        raise NotPositiveDefinite
    return L


def _block_distances(points, idx) -> torch.Tensor:
    """Distances ``(B, P)`` of the strict lower triangle of the blocks ``idx (B, k)``."""
    ii, jj = tril(idx.shape[1])
    P = points[idx]
    diff = P[:, ii] - P[:, jj]
    return torch.sqrt((diff * diff).sum(-1))


def _whitened_stats(spec: GaussianSpec, points, V, idx, jitter, dist=None):
    """Cross-products ``(q, q)`` of the whitened last rows and Σ log L_kk of the blocks
    ``idx (B, k)`` of ``points (n, D)`` with data and design columns ``V (n, q)``.

    The covariances are evaluated on each block's strict lower triangle only: from the
    cached distances ``dist (B, P)`` for an isotropic covariance, else from the points.
    """
    P = points[idx]
    if dist is not None:
        pairs = spec.of_distance(dist)
    else:
        ii, jj = tril(idx.shape[1])
        pairs = (spec.paired(P[:, ii], P[:, jj]) if spec.paired is not None
                 else spec.kernel(P, P)[:, ii, jj])
    diag = spec.diag(P) + (spec.nugget + jitter)
    Z, logl = BlockRows.apply(pairs, diag, V[idx])
    return Z.T @ Z, logl.sum()


def _grouped_block_stats(spec, points, V, idx, resp, jitter):
    """Cross-products of the whitened response rows and their Σ log L_ii for padded grouped
    blocks ``idx (B, K)`` (−1: padding, an identity row decoupled from the rest)."""
    valid = idx >= 0
    safe = idx.clamp(min=0)
    P = points[safe]
    M = (valid[:, :, None] & valid[:, None, :]).to(P.dtype)
    S = spec.kernel(P, P) * M + torch.diag_embed(
        torch.where(valid, spec.nugget + jitter, torch.ones((), dtype=P.dtype)))
    L = _chol(S)
    W = torch.linalg.solve_triangular(L, V[safe] * valid[..., None].to(P.dtype), upper=False)
    Wr = W[resp]  # (responses, q)
    return Wr.T @ Wr, torch.log(torch.diagonal(L, dim1=1, dim2=2)[resp]).sum()


def _head_stats(spec, P, V, jitter):
    """The same for the first points as one dense block ``P (h, D)``, ``V (h, q)``."""
    L = _chol(_block_cov(spec, P[None], jitter))[0]
    Z = torch.linalg.solve_triangular(L, V, upper=False)
    return Z.T @ Z, torch.log(L.diagonal()).sum()


class VecchiaEngine(CovarianceEngine):
    r"""Vecchia likelihood, GLS and kriging: O(n m³) time, memory bounded by ``batch_memory``.

    The log-likelihood is approximated by a product of conditionals on the m nearest earlier
    points (Vecchia 1988; Katzfuss & Guinness 2021),

    .. math::

        \log p(y) \approx \sum_i \log p(y_i \mid y_{N(i)}),

    see the module docstring.

    Parameters
    ----------
    neighbours : int, default 30
        m, the size of each conditioning set.
    ordering : {"maxmin", "random", "coordinate", "none"}, default "maxmin"
        Ordering of the points.
    pred_neighbours : int or None, optional
        Observations each prediction conditions on (default max(2m, 60): prediction is cheap
        beside the fit, and rough fields gain from more neighbours).
    batch_memory : float, default 64 MiB
        Bytes of block matrices per batch.
    graph_memory : float, default 4 GiB
        Above this many bytes of autograd graph, the batches are recomputed in the backward
        pass instead of kept (activation checkpointing).
    cache_memory : float or None, optional
        The blocks' distances are kept between evaluations (isotropic covariances) when they
        need at most this many bytes (default: a quarter of the machine's memory; 10⁶ points at
        m = 30 need 3.7 GB).
    grouped : bool, default False
        Group points that share neighbours into joint blocks (Guinness 2018; each member
        conditions on all earlier points of its block: more accurate at the same m).
    coarse_neighbours : int or None, default 10
        ``fit`` first optimises with this smaller m (all restarts), then refines with m from
        that optimum (used when smaller than m; None: off).
    seed : int, default 0
        Seed of the random ordering.
    progress : bool or None, optional
        A progress bar over the batches (None: as ``settings(progress=...)``).

    Raises
    ------
    ValueError
        If ``neighbours``, ``pred_neighbours`` or ``coarse_neighbours`` is not a positive
        integer, or ``ordering`` is unknown.

    References
    ----------
    Vecchia, A. V. (1988). Estimation and model identification for continuous spatial
    processes. JRSS-B 50, 297–312.

    Katzfuss, M. & Guinness, J. (2021). A general framework for Vecchia approximations of
    Gaussian processes. Statistical Science 36, 124–141.

    Guinness, J. (2018). Permutation and grouping methods for sharpening Gaussian process
    approximations. Technometrics 60, 415–429.
    """

    name = "vecchia"
    #: how fit() gets the Hessian: autograd through a batched Cholesky would hold a graph of
    #: every block; forward differences of the closed-form gradient need k gradients
    hessian = "differences"

    def __init__(self, neighbours: int = 30, ordering: str = "maxmin",
                 pred_neighbours: int | None = None, batch_memory: float = 64 * 2**20,
                 graph_memory: float = 4 * 2**30, cache_memory: float | None = None,
                 grouped: bool = False, coarse_neighbours: int | None = 10, seed: int = 0,
                 progress: bool | None = None):
        if int(neighbours) != neighbours or neighbours < 1:
            raise ValueError(f"neighbours must be a positive integer, got {neighbours}")
        if ordering not in ORDERINGS:
            raise ValueError(f"unknown ordering {ordering!r}; choose one of {ORDERINGS}")
        if pred_neighbours is not None and (int(pred_neighbours) != pred_neighbours
                                            or pred_neighbours < 1):
            raise ValueError(f"pred_neighbours must be a positive integer, got {pred_neighbours}")
        self.neighbours = int(neighbours)
        self.ordering = ordering
        self.pred_neighbours = None if pred_neighbours is None else int(pred_neighbours)
        self.batch_memory = float(batch_memory)
        self.graph_memory = float(graph_memory)
        self.cache_memory = float(cache_memory if cache_memory is not None
                                  else (physical_memory() or 8.0 * 2**30) / 4)
        self.grouped = bool(grouped)
        if coarse_neighbours is not None and (int(coarse_neighbours) != coarse_neighbours
                                              or coarse_neighbours < 1):
            raise ValueError(
                f"coarse_neighbours must be a positive integer, got {coarse_neighbours}")
        self.coarse_neighbours = None if coarse_neighbours is None else int(coarse_neighbours)
        self.seed = seed
        self.progress = progress
        self._cache: dict[bytes, _Structure] = {}

    def __repr__(self):
        return (f"VecchiaEngine(neighbours={self.neighbours}, ordering={self.ordering!r}, "
                f"pred_neighbours={self.pred_neighbours}"
                + (", grouped=True)" if self.grouped else ")"))

    simulates_conditionally = True

    @property
    def label(self) -> str:
        """``"Vecchia with m = <neighbours> neighbours"``, for ``fit``'s messages."""
        return f"Vecchia with m = {self.neighbours} neighbours"

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this engine.

        Memory budgets and the progress setting are the machine's, not the model's, and are left
        out.

        Returns
        -------
        dict
        """
        return {"engine": self.name, "neighbours": self.neighbours, "ordering": self.ordering,
                "pred_neighbours": self.pred_neighbours, "grouped": self.grouped,
                "coarse_neighbours": self.coarse_neighbours, "seed": self.seed}

    def coarse(self) -> VecchiaEngine | None:
        """The engine ``fit`` first optimises with (m = ``coarse_neighbours``), or None.

        Returns
        -------
        VecchiaEngine or None
            None when ``coarse_neighbours`` is None or not smaller than m.
        """
        m = self.coarse_neighbours
        return self.with_neighbours(m) if m is not None and m < self.neighbours else None

    def with_neighbours(self, m: int) -> VecchiaEngine:
        """The same engine with another m (the cache of orderings is shared).

        Parameters
        ----------
        m : int
            New number of neighbours.

        Returns
        -------
        VecchiaEngine
            With ``coarse_neighbours`` off.
        """
        other = VecchiaEngine(m, self.ordering, self.pred_neighbours, self.batch_memory,
                              self.graph_memory, self.cache_memory, self.grouped, None,
                              self.seed, self.progress)
        other._cache = self._cache
        return other

    # --- structure --------------------------------------------------------------------
    def structure(self, points: torch.Tensor) -> _Structure:
        """The ordering and conditioning sets of a point set (computed once, cached).

        Parameters
        ----------
        points : torch.Tensor
            ``(n, D)`` locations.

        Returns
        -------
        _Structure
            ``perm (n,)`` the ordering, ``head`` the size of the first dense block, ``blocks
            (n − head, m + 1)`` indices into the original points (last: the point itself), and the
            grouped batches when ``grouped``.
        """
        key = _key(points, self.neighbours, self.ordering, self.seed, self.grouped)
        s = self._cache.get(key)
        if s is None:
            x = points.detach().numpy()
            n = x.shape[0]
            m = min(self.neighbours, n - 1)
            perm = order_points(x, self.ordering, self.seed)
            head = min(n, m + 1)
            nb = previous_neighbours(x[perm], max(m, 1))[head:]  # all valid beyond the head
            rows = np.arange(head, n)
            blocks = perm[np.concatenate([nb[:, ::-1], rows[:, None]], axis=1)]
            s = _Structure(perm, head, torch.from_numpy(np.ascontiguousarray(blocks)))
            if self.grouped and head < n:
                s.groups = self._grouped_batches(perm, head, nb)
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = s
        return s

    def _grouped_batches(self, perm, head, nb_tail):
        """Groups of rows sharing neighbours (:func:`group_neighbours`) as padded batches:
        blocks ``(B, K)`` of original point indices (−1 padding) and the response mask."""
        n = len(perm)
        nb = np.full((n, nb_tail.shape[1]), -1, dtype=np.int64)
        nb[head:] = nb_tail
        groups = group_neighbours(nb, head)
        blocks = [np.union1d(g, nb[g].ravel()) for g in groups]
        sizes = np.array([len(b) for b in blocks])
        out = []
        order = np.argsort(sizes, kind="stable")
        a = 0
        while a < len(order):
            K = int(sizes[order[a]])
            rows = self._batch_rows(K)
            take = order[a : a + rows]
            K = int(sizes[take].max())
            idx = np.full((len(take), K), -1, dtype=np.int64)
            resp = np.zeros((len(take), K), dtype=bool)
            for r, t in enumerate(take):
                b = blocks[t]
                idx[r, K - len(b):] = perm[b]  # padding first: decoupled identity rows
                resp[r, K - len(b):] = np.isin(b, groups[t])
            out.append((torch.from_numpy(idx), torch.from_numpy(resp)))
            a += len(take)
        return out

    def _batch_rows(self, k: int) -> int:
        return max(1, int(self.batch_memory // (8.0 * k * k * 4)))

    def _jitter(self, spec, points) -> torch.Tensor:
        """The exact engine's jitter: settings.jitter × mean of Σ's diagonal."""
        scale = spec.diag(points[:1]).mean() + spec.nugget
        return current().jitter * scale.detach()

    # --- likelihood --------------------------------------------------------------------
    def _stats(self, spec, points, V, jitter, bar=None):
        """Σ over blocks of the whitened cross-products ``(q, q)`` and of log L_last.

        The head block, then batches of blocks; each batch's graph is kept when all of them
        fit in ``graph_memory``, else recomputed in the backward pass (checkpointing)."""
        st = self.structure(points)
        head = torch.from_numpy(st.perm[: st.head])
        G, logdet = _head_stats(spec, points[head], V[head], jitter)
        if st.groups is not None:  # (fn, its arguments, points it covers) per batch
            graph = sum(8.0 * idx.shape[0] * idx.shape[1] ** 2 for idx, _ in st.groups)
            batches = [(_grouped_block_stats, (spec, points, V, idx, resp, jitter),
                        int(resp.sum())) for idx, resp in st.groups]
        else:
            k = st.blocks.shape[1]
            graph = 8.0 * k * k * st.blocks.shape[0]
            rows = self._batch_rows(k)
            starts = range(0, st.blocks.shape[0], rows)
            if (spec.of_distance is not None and st.dist is None
                    and 8.0 * st.blocks.shape[0] * k * (k - 1) / 2 <= self.cache_memory):
                st.dist = [_block_distances(points, st.blocks[a : a + rows]) for a in starts]
            use_dist = spec.of_distance is not None and st.dist is not None
            batches = [(_whitened_stats, (spec, points, V, st.blocks[a : a + rows], jitter,
                                          st.dist[b] if use_dist else None),
                        len(st.blocks[a : a + rows])) for b, a in enumerate(starts)]
        need_grad = torch.is_grad_enabled() and _GRAPH_COPIES * graph > self.graph_memory
        for fn, args, count in batches:
            if need_grad:  # activation checkpointing
                g, ld = checkpoint(fn, *args, use_reentrant=False)
            else:
                g, ld = fn(*args)
            G, logdet = G + g, logdet + ld
            if bar is not None:
                bar.update(count)
        return G, logdet

    def _profiled(self, spec, points, y, X):
        """Centred columns [y − X b_ols, X] (or [y − Xβ]) and the centring b_ols."""
        r = y.shape[0]
        if spec.beta is not None:
            if X is not None and X.shape[1]:
                y = y - (X @ spec.beta)[None, :]
            return y.T, r, 0, None
        if X is None or X.shape[1] == 0:
            return y.T, r, 0, None
        # the profile likelihood is unchanged by y → y − X b; centring avoids cancellation
        b = torch.linalg.lstsq(X, y.mean(0, keepdim=True).T.detach()).solution[:, 0]
        return torch.cat([(y - (X @ b)[None, :]).T, X], 1), r, X.shape[1], b

    def _run(self, spec, points, V):
        """Stats with the jitter raised tenfold on a failed factorisation (as the exact engine)."""
        cfg = current()
        jitter = self._jitter(spec, points)
        show = self.progress if self.progress is not None else cfg.progress
        n = points.shape[0]
        for _ in range(cfg.max_jitter_tries + 1):
            bar = tqdm(total=n, desc="vecchia", unit=" pt", leave=False,
                       disable=(not show) if show is not None else None) if n > 50_000 else None
            try:
                return self._stats(spec, points, V, jitter, bar)
            except NotPositiveDefinite:
                jitter = jitter * 10.0
            finally:
                if bar is not None:
                    bar.close()
        raise MatrixNotPositiveDefinite(
            "a Vecchia block is not positive definite even with jitter: duplicated locations "
            "without a nugget, or a degenerate parameter value (zero variance, infinite range)?"
        )

    def log_likelihood(self, spec, points, y, X):
        """The Vecchia approximation of the (profile) Gaussian log-likelihood.

        Summed over the replicates.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` observed locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.

        Returns
        -------
        torch.Tensor
            0-d log-likelihood, differentiable in the covariance parameters.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If a block is not positive definite even with the largest jitter.
        """
        V, r, p, _ = self._profiled(spec, points, y, X)
        G, logdet = self._run(spec, points, V)
        n = points.shape[0]
        quad = torch.diagonal(G[:r, :r]).sum()
        if p:
            Gxx, Gxy = G[r:, r:], G[r:, :r].sum(1)
            beta = torch.linalg.solve(Gxx, Gxy / r)
            quad = quad - 2.0 * beta @ Gxy + r * beta @ Gxx @ beta
        return -0.5 * quad - r * logdet - 0.5 * n * r * _LOG2PI

    def gls(self, spec, points, y, X):
        """GLS coefficients and their covariance under the Vecchia approximation.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` observed locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.

        Returns
        -------
        beta : torch.Tensor or None
            ``(p,)`` coefficients (None without a design).
        cov : torch.Tensor or None
            ``(p, p)`` covariance.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If a block is not positive definite even with the largest jitter.
        """
        if X is None or X.shape[1] == 0:
            return None, None
        V, r, p, b = self._profiled(GaussianSpec(spec.kernel, spec.diag, spec.nugget),
                                    points, y, X)
        with torch.no_grad():
            G, _ = self._run(spec, points, V)
        Gxx = G[r:, r:]
        beta = torch.linalg.solve(Gxx, G[r:, :r].sum(1) / r)
        return b + beta, torch.linalg.inv(Gxx) / r

    # --- prediction --------------------------------------------------------------------
    def _m_pred(self, n: int) -> int:
        m = self.pred_neighbours if self.pred_neighbours is not None else max(2 * self.neighbours,
                                                                              60)
        return min(m, n)

    def _mean_terms(self, spec, points, y, X):
        """β (given or GLS), Cov(β̂) (None when given) and the residuals ``(r, n)``."""
        if X is None or X.shape[1] == 0:
            return None, None, y
        if spec.beta is not None:
            return spec.beta, None, y - (X @ spec.beta)[None, :]
        beta, cov = self.gls(spec, points, y, X)
        return beta, cov, y - (X @ beta)[None, :]

    def predict(self, spec, points, y, X, new_points, new_X, noise=True, full_cov=False):
        """Kriging at new points from each one's nearest observations.

        Universal kriging (the GLS coefficients' uncertainty added) when ``spec.beta`` is None.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` observed locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.
        new_points : torch.Tensor
            ``(t, D)`` prediction locations.
        new_X : torch.Tensor
            ``(t, p)`` design there.
        noise : bool, default True
            Add the nugget to the variances.
        full_cov : bool, default False
            Return the ``(t, t)`` covariance of the joint Vecchia predictive distribution (targets
            conditioned on observations and on earlier targets).

        Returns
        -------
        Prediction
            Means and variances ``(r, t)``, or the ``(t, t)`` covariance with ``full_cov``.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If a block is not positive definite even with the largest jitter.
        """
        if full_cov:
            return self._predict_joint(spec, points, y, X, new_points, new_X, noise)
        beta, beta_cov, resid = self._mean_terms(spec, points, y, X)
        tree = cKDTree(points.numpy())
        mp = self._m_pred(points.shape[0])
        jitter = self._jitter(spec, points)
        rows = self._batch_rows(mp + 1)
        means, variances = [], []
        show = self.progress if self.progress is not None else current().progress
        t = new_points.shape[0]
        bar = tqdm(total=t, desc="predict", unit=" pt", leave=False,
                   disable=(not show) if show is not None else None) if t > 50_000 else None
        for a in range(0, t, rows):
            P0 = new_points[a : a + rows]
            _, nb = tree.query(P0.numpy(), k=mp, workers=-1)
            nb = torch.from_numpy(np.asarray(nb).reshape(len(P0), mp))
            Pn = points[nb]  # (B, mp, D)
            L = _chol(_block_cov(spec, Pn, jitter))
            k0 = spec.kernel(Pn, P0[:, None, :])  # (B, mp, 1)
            A = torch.linalg.solve_triangular(L, k0, upper=False)  # (B, mp, 1)
            Zr = torch.linalg.solve_triangular(L, resid[:, nb].permute(1, 2, 0), upper=False)
            mean = (A.transpose(1, 2) @ Zr)[:, 0, :]  # (B, r)
            var = spec.diag(P0) - (A[..., 0] ** 2).sum(1)
            if beta is not None:
                X0 = new_X[a : a + rows]
                mean = mean + (X0 @ beta)[:, None]
                if beta_cov is not None:
                    Zx = torch.linalg.solve_triangular(L, X[nb], upper=False)  # (B, mp, p)
                    R = X0 - (A.transpose(1, 2) @ Zx)[:, 0, :]
                    var = var + ((R @ beta_cov) * R).sum(1)
            if noise:
                var = var + spec.nugget
            means.append(mean.T)
            variances.append(torch.clamp(var, min=0.0).expand(y.shape[0], -1))
            if bar is not None:
                bar.update(len(P0))
        if bar is not None:
            bar.close()
        return Prediction(torch.cat(means, 1), torch.cat(variances, 1))

    def joint_factor(self, spec, points, new_points):
        """The sparse factor of the joint predictive distribution of the field at the targets.

        Targets are ordered maxmin; target j conditions on the ``pred_neighbours`` nearest of the
        observations and the earlier targets together.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance and nugget.
        points : torch.Tensor
            ``(n, D)`` observed locations.
        new_points : torch.Tensor
            ``(t, D)`` targets.

        Returns
        -------
        order : numpy.ndarray
            ``(t,)`` the targets' ordering.
        B_obs : scipy.sparse.csr_matrix
            ``(t, n)`` coefficients on the observed residuals.
        B_new : scipy.sparse.csr_matrix
            ``(t, t)`` strictly lower coefficients on earlier targets, in target order.
        d : numpy.ndarray
            ``(t,)`` conditional variances.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If a block is not positive definite even with the largest jitter.
        """
        x = points.numpy()
        n, t = x.shape[0], new_points.shape[0]
        order = maxmin_order(new_points.numpy())
        xn = new_points.numpy()[order]
        mp = min(self._m_pred(n + t), n + t - 1)
        k_obs = min(mp, n)
        d_obs, i_obs = cKDTree(x).query(xn, k=k_obs, workers=-1)
        d_obs, i_obs = d_obs.reshape(t, k_obs), i_obs.reshape(t, k_obs)
        k_new = min(mp, max(t - 1, 1))
        prev = previous_neighbours(xn, k_new)
        d_new = np.where(prev >= 0, np.sqrt(((xn[np.maximum(prev, 0)] - xn[:, None, :]) ** 2)
                                            .sum(-1)), np.inf)
        # the mp nearest of both kinds; index ≥ n means target (index − n)
        cand = np.concatenate([i_obs, n + np.where(prev >= 0, prev, 0)], axis=1)
        dist = np.concatenate([d_obs, d_new], axis=1)
        keep = np.argsort(dist, axis=1, kind="stable")[:, :mp]
        cand = np.take_along_axis(cand, keep, 1)
        valid = np.isfinite(np.take_along_axis(dist, keep, 1))
        allp = torch.cat([points, new_points[torch.from_numpy(order)]])
        is_obs = torch.from_numpy(cand < n)
        valid_t = torch.from_numpy(valid)
        jitter = self._jitter(spec, points)
        coef = np.zeros((t, mp))
        dvar = np.zeros(t)
        rows = self._batch_rows(mp + 1)
        with torch.no_grad():
            for a in range(0, t, rows):
                sl = slice(a, a + rows)
                c = torch.from_numpy(cand[sl])
                P = allp[c]  # (B, mp, D)
                v, o = valid_t[sl], is_obs[sl]
                M = (v[:, :, None] & v[:, None, :]).to(P.dtype)
                S = spec.kernel(P, P) * M
                # noise on observed neighbours; padding rows become identity
                diag = torch.where(o & v, spec.nugget, 0.0) + torch.where(v, jitter, 1.0)
                S = S + torch.diag_embed(diag)
                P0 = allp[n + a : n + a + len(c)]
                k0 = spec.kernel(P, P0[:, None, :])[..., 0] * v  # (B, mp)
                L = _chol(S)
                w = torch.cholesky_solve(k0[..., None], L)[..., 0]
                coef[sl] = w.numpy()
                dvar[sl] = (spec.diag(P0) - (w * k0).sum(1)).clamp(min=0.0).numpy()
        r_idx = np.repeat(np.arange(t), mp)
        c_flat, w_flat, v_flat = cand.ravel(), coef.ravel(), valid.ravel()
        ob = v_flat & (c_flat < n)
        nw = v_flat & (c_flat >= n)
        B_obs = scipy.sparse.csr_matrix((w_flat[ob], (r_idx[ob], c_flat[ob])), shape=(t, n))
        B_new = scipy.sparse.csr_matrix((w_flat[nw], (r_idx[nw], c_flat[nw] - n)), shape=(t, t))
        return order, B_obs, B_new, dvar

    def _joint(self, spec, points, y, X, new_points, new_X):
        beta, beta_cov, resid = self._mean_terms(spec, points, y, X)
        order, B_obs, B_new, dvar = self.joint_factor(spec, points, new_points)
        t = new_points.shape[0]
        IB = (scipy.sparse.identity(t, format="csr") - B_new).tocsr()
        return beta, beta_cov, resid, order, B_obs, IB, dvar

    def _predict_joint(self, spec, points, y, X, new_points, new_X, noise):
        beta, beta_cov, resid, order, B_obs, IB, dvar = self._joint(
            spec, points, y, X, new_points, new_X)
        t = new_points.shape[0]
        Ld = torch.linalg.solve_triangular(torch.from_numpy(IB.toarray()),
                                           torch.diag(torch.from_numpy(np.sqrt(dvar))),
                                           upper=False)
        inv = np.argsort(order)
        Ld = Ld[torch.from_numpy(inv)]
        cov = Ld @ Ld.T
        mean = _sparse_lower_solve(IB, B_obs @ resid.numpy().T)[inv].T  # (r, t)
        mean = torch.from_numpy(mean)
        if beta is not None:
            mean = mean + (new_X @ beta)[None, :]
            if beta_cov is not None:
                R = new_X - torch.from_numpy(_sparse_lower_solve(IB, B_obs @ X.numpy())[inv])
                cov = cov + R @ beta_cov @ R.T
        if noise:
            cov = cov + spec.nugget * torch.eye(t, dtype=cov.dtype)
        return Prediction(mean, cov)

    def conditional_simulation(self, spec, points, y, X, new_points, new_X, n_samples,
                               generator=None, noise=False) -> torch.Tensor:
        """Draws from the joint Vecchia predictive distribution at the targets (one data replicate).

        With GLS coefficients (``spec.beta`` None) each draw takes its own β from
        N(β̂, Cov β̂), so their uncertainty is carried.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` observed locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.
        new_points : torch.Tensor
            ``(t, D)`` targets.
        new_X : torch.Tensor
            ``(t, p)`` design there.
        n_samples : int
            Number of draws.
        generator : torch.Generator or None, optional
            Source of the normals.
        noise : bool, default False
            Add independent nugget noise (simulate observations, not the field).

        Returns
        -------
        torch.Tensor
            ``(n_samples, t)`` draws.

        Raises
        ------
        ValueError
            If ``y`` has more than one replicate.
        fieldfit.errors.NotPositiveDefinite
            If a block is not positive definite even with the largest jitter.
        """
        if y.shape[0] != 1:
            raise ValueError("conditional simulation needs a single replicate")
        beta, beta_cov, resid, order, B_obs, IB, dvar = self._joint(
            spec, points, y, X, new_points, new_X)
        t = new_points.shape[0]
        eps = torch.randn(t, n_samples, generator=generator, dtype=points.dtype).numpy()
        R = np.repeat(resid.numpy().T, n_samples, axis=1)  # (n, s)
        Xb = np.zeros((t, n_samples))
        if beta is not None:
            betas = beta[:, None].expand(-1, n_samples).clone()
            if beta_cov is not None:
                e = torch.randn(beta.shape[0], n_samples, generator=generator, dtype=beta.dtype)
                betas = betas + torch.linalg.cholesky(beta_cov) @ e
                R = y.numpy().T - X.numpy() @ betas.numpy()  # residuals under each draw's β
            Xb = (new_X @ betas).numpy()
        z = _sparse_lower_solve(IB, B_obs @ R + np.sqrt(dvar)[:, None] * eps)
        z = z[np.argsort(order)] + Xb
        if noise:
            z = z + float(spec.nugget) ** 0.5 * torch.randn(
                t, n_samples, generator=generator, dtype=points.dtype).numpy()
        return torch.from_numpy(z.T)


def _sparse_lower_solve(IB, rhs: np.ndarray) -> np.ndarray:
    """Solve (I − B) z = rhs for a unit lower-triangular CSR matrix (scipy)."""
    rhs = np.asarray(rhs, dtype=np.float64)
    one = rhs.ndim == 1
    z = scipy.sparse.linalg.spsolve_triangular(IB, rhs[:, None] if one else rhs, lower=True,
                                               unit_diagonal=True)
    return z[:, 0] if one else z
